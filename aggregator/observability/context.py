"""The log context: fields (``request_id``, ``tpp``, ``consent_id``, ``connection_id``, ``sync_run_id``, ``task``…)
bound for the current request or task in a ``ContextVar`` and added to every log record by
``aggregator.observability.logs.ContextFilter``. Threads and asyncio tasks each see their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["LOG_FIELDS", "log_context", "log_context_bind", "log_context_bound", "log_context_clear"]

# The fields every log line may carry, in the order they are printed.
LOG_FIELDS = ("request_id", "tpp", "consent_id", "connection_id", "sync_run_id", "task", "task_id", "delivery_id")

_context: ContextVar[dict[str, Any] | None] = ContextVar("log_context", default=None)


def log_context() -> dict[str, Any]:
    return dict(_context.get() or {})


def log_context_bind(**fields: Any) -> None:
    """Add ``fields`` (``None`` values are skipped) to the current context."""
    current = dict(_context.get() or {})
    current.update({key: str(value) for key, value in fields.items() if value is not None and value != ""})
    _context.set(current)


def log_context_clear() -> None:
    _context.set(None)


@contextmanager
def log_context_bound(**fields: Any) -> Iterator[None]:
    """Bind ``fields`` for the block, then restore what was bound before."""
    token = _context.set(dict(_context.get() or {}))
    log_context_bind(**fields)
    try:
        yield
    finally:
        _context.reset(token)
