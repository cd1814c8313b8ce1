"""Export (GDPR Art. 15 and 20): a zip of JSON files, ``transactions.csv`` and ``manifest.json``.

``data_export_request`` records a ``DataExport`` (queued) and enqueues the build task after commit;
``data_export_build`` (the task's one call) streams every section into the zip on disk, updating the row's
``percent`` after each file, and ends ``done`` with a download link valid ``PRIVACY_EXPORT_LINK_SECONDS``
(``links.py``), or ``failed``. A second delivery of the task builds nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from aggregator.api.serializers import money
from aggregator.conf import aggregator_settings

from .models import DataExport
from .sections import SECTIONS, TRANSACTION_CSV_COLUMNS, transaction_rows

__all__ = [
    "EXPORT_TASK",
    "SCHEMA_VERSION",
    "data_export_build",
    "data_export_delete",
    "data_export_path",
    "data_export_request",
    "export_dir",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "1.0"
EXPORT_TASK = "aggregator.privacy.tasks.data_export_task"
# A running export not finished after this long is taken to have lost its worker: a redelivery builds it again.
STALE_AFTER = dt.timedelta(minutes=30)
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS


def export_dir() -> Path:
    configured = aggregator_settings.PRIVACY_EXPORT_DIR
    path = Path(configured) if configured else Path(settings.DATA_DIR) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_export_path(export: DataExport) -> Path | None:
    return export_dir() / export.file_name if export.file_name else None


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return money(value)  # the API's amounts: text, never a float
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)  # UUID, date…


def _json(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_OPTIONS)


@transaction.atomic
def data_export_request(*, user: Any, requested_by: str) -> DataExport:
    """Queue an export of everything about ``user``; the task builds it after this transaction commits."""
    export = DataExport.objects.create(user=user, requested_by=requested_by)
    transaction.on_commit(lambda: current_app.send_task(EXPORT_TASK, args=[export.pk], ignore_result=True))
    return export


def _progress(export: DataExport, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(export, name, value)
    DataExport.objects.filter(pk=export.pk).update(**fields)


def _claim(export: DataExport) -> bool:
    """Take the export for this run: a queued one, or a running one whose worker died (``STALE_AFTER``). A second
    delivery of the task while the first one runs (or after it finished) takes nothing."""
    started = timezone.now()
    claimed = (
        DataExport.objects.filter(pk=export.pk)
        .filter(
            Q(status=DataExport.Status.QUEUED)
            | Q(status=DataExport.Status.RUNNING, started_at__lt=started - STALE_AFTER)
        )
        .update(status=DataExport.Status.RUNNING, percent=0, started_at=started, error="")
    )
    export.refresh_from_db()
    return bool(claimed)


def _write_array(zf: zipfile.ZipFile, name: str, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    with zf.open(name, "w") as out:
        out.write(b"[")
        for row in rows:
            out.write((b",\n" if count else b"\n") + _json(row))
            count += 1
        out.write(b"\n]\n" if count else b"]\n")
    return count


def _write_csv(zf: zipfile.ZipFile, user: Any) -> int:
    count = 0
    with zf.open("transactions.csv", "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        writer = csv.writer(text)
        writer.writerow(TRANSACTION_CSV_COLUMNS)
        for row in transaction_rows(user, with_raw=False):
            writer.writerow(["" if row[c] is None else _default(row[c]) for c in TRANSACTION_CSV_COLUMNS])
            count += 1
    return count


def data_export_build(*, export: DataExport, now: dt.datetime | None = None) -> DataExport:
    """Write the archive of ``export.user`` (see the module docstring). Never raises for a data error: the row
    says ``failed`` with the reason."""
    if not _claim(export):
        return export
    user = export.user
    file_name = f"export-{export.public_id}.zip"
    path = export_dir() / file_name
    partial = path.with_suffix(".part")
    steps = len(SECTIONS) + 1
    counts: dict[str, int] = {}
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for done, section in enumerate(SECTIONS, start=1):
                counts[section.file] = _write_array(zf, section.file, section.rows(user))
                _progress(export, percent=min(99, done * 100 // steps))
            counts["transactions.csv"] = _write_csv(zf, user)
            generated_at = now or timezone.now()
            manifest = {
                "schema_version": SCHEMA_VERSION,
                "generated_at": generated_at,
                "subject": {"username": user.get_username()},
                "files": counts,
                "notes": "Amounts are decimal strings; times are UTC (ISO 8601). See docs/privacy.md.",
            }
            zf.writestr(
                "manifest.json", orjson.dumps(manifest, default=_default, option=_OPTIONS | orjson.OPT_INDENT_2)
            )
        partial.replace(path)
    except Exception as exc:
        logger.exception("export %s of user %s failed", export.public_id, user.pk)
        partial.unlink(missing_ok=True)
        _progress(
            export, status=DataExport.Status.FAILED, error=f"{type(exc).__name__}"[:300], finished_at=timezone.now()
        )
        return export
    finished = timezone.now()
    link_seconds = int(aggregator_settings.PRIVACY_EXPORT_LINK_SECONDS)
    _progress(
        export,
        status=DataExport.Status.DONE,
        percent=100,
        file_name=file_name,
        size_bytes=path.stat().st_size,
        counts=counts,
        finished_at=finished,
        expires_at=finished + dt.timedelta(seconds=link_seconds),
    )
    logger.info("export %s of user %s done: %s", export.public_id, user.pk, counts)
    return export


def data_export_delete(*, export: DataExport) -> None:
    """Delete the archive file and the row."""
    path = data_export_path(export)
    if path is not None:
        path.unlink(missing_ok=True)
    export.delete()
