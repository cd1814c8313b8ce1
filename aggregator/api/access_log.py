"""Access logging of data requests without slowing them down.

Each request under a consent appends a small record to a per-process buffer (a list append under a lock). The
buffer is written with one ``bulk_create`` — plus one ``UPDATE`` of ``Consent.last_accessed_at`` per consent in
the batch — by a daemon thread every ``AGGREGATOR["ACCESS_LOG_FLUSH_SECONDS"]`` (default 1 s), when it reaches
``_MAX_BUFFER`` records, and at interpreter exit. ``ACCESS_LOG_FLUSH_SECONDS = 0`` writes synchronously in the
request (tests). A worker killed with ``SIGKILL`` loses at most the last second of records.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import threading
from dataclasses import dataclass

from django.db import close_old_connections, connections

from aggregator.conf import aggregator_settings
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
