"""Prometheus metrics of bank calls (``providers`` imports nothing of ours, so it declares its own).

``bank_calls_total{bank,status}`` and ``bank_call_duration_seconds{bank}``: ``status`` is the HTTP status, or
``timeout`` / ``transport`` / ``connect`` when no answer came. ``bank`` is the institution the caller is working
for (``bank_context``, set by the sync engine and the connect flow), else the host called.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit

from prometheus_client import Counter, Histogram

__all__ = ["BANK_CALLS", "BANK_CALL_SECONDS", "bank_call_observe", "bank_context", "current_bank"]

BANK_CALLS = Counter(
    "bank_calls_total", "Calls to bank APIs, by bank and HTTP status (or failure kind)", ["bank", "status"]
)
BANK_CALL_SECONDS = Histogram(
    "bank_call_duration_seconds",
    "Latency of one call to a bank API (one attempt)",
    ["bank"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

_bank: ContextVar[str] = ContextVar("bank", default="")


def current_bank() -> str:
    return _bank.get()


@contextmanager
def bank_context(bank: str) -> Iterator[None]:
    """Label the bank calls made inside the block with ``bank`` (an institution slug)."""
    token = _bank.set(bank)
    try:
        yield
    finally:
        _bank.reset(token)


def bank_call_observe(*, url: str, status: int | str, seconds: float) -> None:
    bank = _bank.get() or (urlsplit(url).hostname or "unknown")
    BANK_CALLS.labels(bank=bank, status=str(status)).inc()
    BANK_CALL_SECONDS.labels(bank=bank).observe(seconds)
