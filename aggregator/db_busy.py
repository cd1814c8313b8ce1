"""Recognising a busy database: the one error that means "try again in a moment", not "we have a bug".

SQLite answers ``database is locked`` / ``database table is locked`` when a writer waited longer than its busy
timeout; PostgreSQL answers lock-timeout (``55P03``), serialization (``40001``) and deadlock (``40P01``) errors.
The API and the OAuth token endpoint turn these into ``503`` with ``Retry-After`` (``temporarily_unavailable``)
instead of a ``500``.
"""

from __future__ import annotations

from django.db import OperationalError

__all__ = ["RETRY_AFTER_SECONDS", "database_busy"]

RETRY_AFTER_SECONDS = 1
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
_PG_BUSY = {"55P03", "40001", "40P01"}


def database_busy(exc: BaseException) -> bool:
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__ or exc
    if (
        getattr(cause, "pgcode", None) in _PG_BUSY
        or getattr(getattr(cause, "diag", None), "sqlstate", None) in _PG_BUSY
    ):
        return True
    return any(text in str(exc).lower() for text in _SQLITE_BUSY)
