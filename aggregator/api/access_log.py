"""Access logging of data requests without slowing them down.

Each request under a consent appends a small record to a per-process buffer (a list append under a lock). The
buffer is written with one ``bulk_create`` — plus one ``UPDATE`` of ``Consent.last_accessed_at`` per consent in
the batch — by a daemon thread every ``AGGREGATOR["ACCESS_LOG_FLUSH_SECONDS"]`` (default 1 s), when it reaches
``_MAX_BUFFER`` records, and at interpreter exit. ``ACCESS_LOG_FLUSH_SECONDS = 0`` writes synchronously in the
request (tests). A worker killed with ``SIGKILL`` loses at most the last second of records.

Each batch also publishes one ``data.accessed`` domain event per consent in it (the ledger logs them), in the
same transaction as the rows (one INSERT per consent): the endpoints read with their counts and statuses, the
time range — per batch, never per request. (The consent names its app; the event needs no lookup of its own.)
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import threading
from dataclasses import dataclass

from django.db import close_old_connections, connections, transaction

from aggregator.conf import aggregator_settings
from aggregator.domain_events import DomainEvent, publish
from consent.models import AccessLogEntry, Consent

__all__ = ["AccessRecord", "access_log_flush", "access_log_record"]

logger = logging.getLogger("aggregator.api.access_log")

_MAX_BUFFER = 500


@dataclass(frozen=True, slots=True)
class AccessRecord:
    consent_id: object
    application_id: int
    at: dt.datetime
    method: str
    endpoint: str
    status_code: int
    request_id: str


_lock = threading.Lock()
_buffer: list[AccessRecord] = []
_flusher: threading.Thread | None = None
_flusher_pid: int | None = None


def _flush_interval() -> float:
    return float(aggregator_settings.ACCESS_LOG_FLUSH_SECONDS)


def access_log_record(record: AccessRecord) -> None:
    """Queue one record (or write it now when buffering is off)."""
    interval = _flush_interval()
    if interval <= 0:
        _write([record])
        return
    with _lock:
        _buffer.append(record)
        full = len(_buffer) >= _MAX_BUFFER
    _ensure_flusher(interval)
    if full:
        access_log_flush()


def access_log_flush() -> int:
    """Write everything buffered so far; returns the number of records written."""
    with _lock:
        batch = _buffer[:]
        _buffer.clear()
    if batch:
        try:
            _write(batch)
        except Exception:
            logger.exception("Could not write %d access-log records", len(batch))
            return 0
    return len(batch)


def _printable(text: str) -> str:
    """Paths are client input: no NUL or control characters in the log (PostgreSQL refuses NUL in text)."""
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text)


@transaction.atomic(savepoint=False)  # rows and outbox rows together; no savepoint inside a caller's transaction
def _write(batch: list[AccessRecord]) -> None:
    AccessLogEntry.objects.bulk_create(
        [
            AccessLogEntry(
                consent_id=r.consent_id,
                application_id=r.application_id,
                at=r.at,
                method=r.method,
                endpoint=_printable(r.endpoint)[:300],
                status_code=r.status_code,
                request_id=r.request_id[:128],
            )
            for r in batch
        ]
    )
    latest: dict[object, dt.datetime] = {}
    for r in batch:
        if r.consent_id not in latest or r.at > latest[r.consent_id]:
            latest[r.consent_id] = r.at
    for consent_id, at in latest.items():
        Consent.objects.filter(pk=consent_id).update(last_accessed_at=at)
    _publish_accessed(batch)


def _publish_accessed(batch: list[AccessRecord]) -> None:
    by_consent: dict[object, list[AccessRecord]] = {}
    for r in batch:
        by_consent.setdefault(r.consent_id, []).append(r)
    for consent_id, records in by_consent.items():
        endpoints: dict[tuple[str, str, int], int] = {}
        for r in records:
            key = (r.method, _endpoint_template(r.endpoint), r.status_code)
            endpoints[key] = endpoints.get(key, 0) + 1
        publish(
            DomainEvent(
                name="data.accessed",
                subject_type="consent",
                subject_id=str(consent_id),
                data={
                    "requests": len(records),
                    "endpoints": [
                        {"method": m, "path": p, "status": s, "count": n} for (m, p, s), n in sorted(endpoints.items())
                    ],
                    "first_at": min(r.at for r in records).isoformat(),
                    "last_at": max(r.at for r in records).isoformat(),
                },
            )
        )


def _endpoint_template(endpoint: str) -> str:
    """The path without its query string and with ids folded (``/api/v1/accounts/{id}/transactions``): what was
    read, not which row — and bounded in size."""
    path = _printable(endpoint).split("?", 1)[0][:300]
    return "/".join("{id}" if _looks_like_id(part) else part for part in path.split("/"))


def _looks_like_id(part: str) -> bool:
    return len(part) >= 16 and any(ch.isdigit() for ch in part)


def _ensure_flusher(interval: float) -> None:
    global _flusher, _flusher_pid
    import os

    # A forked worker (gunicorn) inherits the parent's thread object but not the thread itself.
    if _flusher is not None and _flusher_pid == os.getpid() and _flusher.is_alive():
        return
    with _lock:
        if _flusher is not None and _flusher_pid == os.getpid() and _flusher.is_alive():
            return
        _flusher_pid = os.getpid()
        _flusher = threading.Thread(target=_run_flusher, args=(interval,), name="access-log-flusher", daemon=True)
        _flusher.start()


def _run_flusher(interval: float) -> None:
    stop = threading.Event()
    while not stop.wait(interval):
        close_old_connections()
        access_log_flush()
        connections.close_all()


atexit.register(access_log_flush)
