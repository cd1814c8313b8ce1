"""Recognising a database that cannot answer *now*: the errors that mean "try again in a moment", not "we have
a bug".

* **Busy**: SQLite answers ``database is locked`` / ``database table is locked`` when a writer waited longer than
  its busy timeout; PostgreSQL answers lock-timeout (``55P03``), serialization (``40001``) and deadlock
  (``40P01``) errors.
* **Unreachable** (PostgreSQL restarting, failing over, or down): the driver cannot connect or lost the
  connection — psycopg's ``OperationalError`` with no server error code, a connection exception (SQLSTATE class
  ``08``), an administrator or crash shutdown (``57P01``/``57P02``), "cannot connect now" while the server starts
  (``57P03``) — and Django's ``InterfaceError`` for a connection already closed under it.

The API and the OAuth token endpoint turn these into ``503`` with ``Retry-After`` (``temporarily_unavailable``)
instead of a ``500``; ``/healthz`` reports the database as down meanwhile.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

__all__ = ["RETRY_AFTER_SECONDS", "database_busy"]

RETRY_AFTER_SECONDS = 1
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
_PG_BUSY = {"55P03", "40001", "40P01"}
_PG_UNAVAILABLE = {"57P01", "57P02", "57P03"}


def _sqlstate(cause: BaseException) -> str | None:
    return (
        getattr(cause, "pgcode", None)  # psycopg2
        or getattr(cause, "sqlstate", None)  # psycopg 3: the error class's code
        or getattr(getattr(cause, "diag", None), "sqlstate", None)  # psycopg 3: the server's diagnostic
    )


def _from_psycopg(cause: BaseException) -> bool:
    return type(cause).__module__.split(".")[0] in ("psycopg", "psycopg2")


def database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is busy or unreachable for now (see the module docstring)."""
    if isinstance(exc, InterfaceError):
        return True  # "connection already closed": the server went away under a kept connection
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__ or exc
    state = _sqlstate(cause)
    if state in _PG_BUSY or state in _PG_UNAVAILABLE or (state or "").startswith("08"):
        return True
    if state is None and _from_psycopg(cause):
        return True  # the client could not reach the server or lost it: no server ever answered with a code
    return any(text in str(exc).lower() for text in _SQLITE_BUSY)
