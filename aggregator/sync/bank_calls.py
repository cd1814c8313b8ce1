"""No database session held while a sync waits for its bank.

A sync spends nearly all its time waiting for the bank (hundreds of milliseconds a call) and a few milliseconds
writing. Were each running sync to keep its database connection across those waits, a fleet's sync concurrency
would be capped by PostgreSQL's ``max_connections``. :class:`DbReleasingAdapter` wraps the connection's adapter
and closes this thread's database connection before each bank call (unless a transaction is open: a token
refresh under a row lock keeps it); Django opens a fresh one at the next query. Sessions held by a sync worker
are then about ``concurrency * (database time / sync time)`` instead of ``concurrency``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection as db

from providers.base import BankAdapter

__all__ = ["DbReleasingAdapter", "db_release"]

# The adapter methods a sync calls that go to the bank (every other attribute passes through untouched).
_BANK_CALLS = frozenset({"refresh", "list_accounts", "get_balances"})


def db_release() -> None:
    """Close this thread's database connection unless a transaction is open on it."""
    if not db.in_atomic_block:
        db.close()


class DbReleasingAdapter:
    """``adapter`` with this thread's database connection released before each of its bank calls (and before each
    page an ``iter_transactions`` generator fetches)."""

    def __init__(self, adapter: BankAdapter) -> None:
        self._adapter = adapter

    @property
    def wrapped(self) -> BankAdapter:
        return self._adapter

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._adapter, name)
        if name in _BANK_CALLS:
            return _released(value)
        if name == "iter_transactions":
            return _released_pages(value)
        return value


def _released(call: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        db_release()
        return call(*args, **kwargs)

    return wrapper


def _released_pages(call: Callable[..., Any]) -> Callable[..., Iterator[Any]]:
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        pages = iter(call(*args, **kwargs))
        while True:
            db_release()
            try:
                page = next(pages)
            except StopIteration:
                return
            yield page

    return wrapper
