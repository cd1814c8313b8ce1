"""Bulk writers of the sync engine: a constant number of statements per batch, never one query per row.

Transactions are upserted on their natural key ``(account_id, provider_transaction_id)``: a row the bank serves
unchanged is not written at all (its ``updated_at`` stays put), a changed one is updated, a new one is inserted
with a fresh ``public_id``. Re-served rows lose ``removed_at`` (a row the bank serves is alive); that is part of
the "changed" test. The caller's transaction (one per page) holds the whole batch.

PostgreSQL, per batch (4 round trips whatever its size):

1. make sure the session's temporary staging table exists (``ON COMMIT DELETE ROWS``) and is empty;
2. ``COPY … FROM STDIN (FORMAT BINARY)`` the rows into it (no WAL, no index, the cheapest way in);
3. delete from the staging table the rows stored exactly as served (a join: one unique-index probe per row on a
   large table, one hash of a small one): an unchanged re-sync stops here, having written only the temporary
   table, and never reaches the conflict path (which locks, and so writes, even a row it does not update);
4. ``INSERT … SELECT … FROM staging ON CONFLICT (account_id, provider_transaction_id) DO UPDATE … WHERE <the row
   changed>``; a returned row carrying the public id generated for it was inserted.

The page transaction commits with ``synchronous_commit = off`` (``AGGREGATOR["SYNC_SYNCHRONOUS_COMMIT"] = True``
restores synchronous commits): atomicity and commit order are unchanged; only a crash in the last fraction of a
second can lose the last pages *of a sync still running* (the sync's outcome is committed synchronously, which
flushes every page before it), and the next sync serves them again, cursor included since it is saved in the
page's transaction.

SQLite (tests, local runs; ≥ 3.35 for RETURNING) gets one multi-row ``INSERT … VALUES … ON CONFLICT`` per 500
rows, telling inserts apart by ``created_at = updated_at``, which only an insert in this very statement produces.

Layout: this module checks rows and dispatches; ``postgresql`` and ``sqlite`` hold each path; ``_base`` what they
share (the compared columns, the raw-JSON encoders).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from django.db import connection as db
from django.db import transaction
from django.db.models import Q

from providers.base import BalanceData, PermanentProviderError, TransactionData

from ...models import Balance, Transaction
from . import postgresql, sqlite
from ._base import TXN_COLUMNS, UpsertResult

__all__ = [
    "TXN_COLUMNS",
    "UpsertResult",
    "balances_upsert",
    "transactions_mark_removed",
    "transactions_upsert",
]

_PG_BATCH = 5000
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _check(item: TransactionData) -> None:
    """A malformed record is the bank's (or adapter's) error, never silently stored."""
    if item.status not in ("booked", "pending"):
        raise PermanentProviderError(f"transaction {item.provider_transaction_id!r}: bad status {item.status!r}")
    if not isinstance(item.amount, Decimal) or not item.amount.is_finite():
        raise PermanentProviderError(f"transaction {item.provider_transaction_id!r}: amount must be a finite Decimal")
    if not isinstance(item.currency, str) or not _CURRENCY.fullmatch(item.currency):
        raise PermanentProviderError(f"transaction {item.provider_transaction_id!r}: bad currency {item.currency!r}")
    if not isinstance(item.booking_date, date) or isinstance(item.booking_date, datetime):
        raise PermanentProviderError(f"transaction {item.provider_transaction_id!r}: booking_date must be a date")
    if item.booked_at is not None and item.booked_at.tzinfo is None:
        raise PermanentProviderError(f"transaction {item.provider_transaction_id!r}: booked_at must be aware")
    if not item.provider_transaction_id or len(item.provider_transaction_id) > 200:
        raise PermanentProviderError("transaction without a usable id")


_STATUSES = frozenset(Transaction.Status.values)
_valid_currencies: set[str] = set()  # codes _check accepted (at most 26³): the fast path's set lookup


def _dedupe(rows: Iterable[tuple[int, TransactionData]]) -> list[tuple[int, TransactionData]]:
    """Check every row; one row per key (a statement may not touch a row twice), the last occurrence wins."""
    unique: dict[tuple[int, str], tuple[int, TransactionData]] = {}
    for account_id, item in rows:
        pid, amount, booked_at = item.provider_transaction_id, item.amount, item.booked_at
        # The common case in a few cheap tests; anything else (a new currency, a subclass) takes the full check.
        if not (
            item.status in _STATUSES
            and type(amount) is Decimal
            and amount.is_finite()
            and item.currency in _valid_currencies
            and type(item.booking_date) is date
            and (booked_at is None or booked_at.tzinfo is not None)
            and type(pid) is str
            and 0 < len(pid) <= 200
        ):
            _check(item)
            _valid_currencies.add(item.currency)
        unique[(account_id, pid)] = (account_id, item)
    return list(unique.values())


def transactions_upsert(*, rows: Iterable[tuple[int, TransactionData]], now: datetime) -> UpsertResult:
    """Upsert ``(account_id, TransactionData)`` rows; returns how many were inserted / updated (unchanged rows are
    neither). Meant for the caller's transaction (one per page); on its own, a call is one transaction. Every row
    is checked before anything is written: a malformed one raises ``PermanentProviderError``."""
    unique = _dedupe(rows)
    result = UpsertResult()
    if not unique:
        return result
    path, size = (postgresql.upsert, _PG_BATCH) if db.vendor == "postgresql" else (sqlite.upsert, sqlite.BATCH)
    with transaction.atomic(savepoint=False):
        for start in range(0, len(unique), size):
            result += path(unique[start : start + size], now)
    return result


def transactions_mark_removed(
    *,
    account_ids: Sequence[int],
    provider_ids: Iterable[str],
    now: datetime,
    pending_only: bool = False,
) -> int:
    """Set ``removed_at`` on the listed live transactions of these accounts; returns how many changed."""
    ids = list(dict.fromkeys(provider_ids))
    if not ids or not account_ids:
        return 0
    if db.vendor == "postgresql":
        return postgresql.mark_removed(list(account_ids), ids, now, pending_only)
    removed = 0
    for start in range(0, len(ids), 2000):
        qs = Transaction.objects.filter(
            account_id__in=account_ids, provider_transaction_id__in=ids[start : start + 2000], removed_at__isnull=True
        )
        if pending_only:
            qs = qs.filter(status=Transaction.Status.PENDING)
        removed += qs.update(removed_at=now, updated_at=now)
    return removed


def balances_upsert(*, account_id: int, balances: Sequence[BalanceData], now: datetime) -> int:
    """Replace an account's balances by type; unchanged ones are not written, types no longer served are
    deleted. Returns the number of rows written or deleted."""
    for item in balances:
        if not isinstance(item.amount, Decimal):
            raise PermanentProviderError(f"balance {item.type!r}: amount must be a Decimal")
        if not _CURRENCY.fullmatch(item.currency or ""):
            raise PermanentProviderError(f"balance {item.type!r}: bad currency {item.currency!r}")
    wanted = {b.type if b.type in Balance.Type.values else Balance.Type.OTHER: b for b in balances}
    existing = {b.type: b for b in Balance.objects.filter(account_id=account_id)}
    fields = ("amount", "currency", "as_of", "credit_line_included", "credit_limit")
    to_create, to_update = [], []
    for type_, item in wanted.items():
        values = {f: getattr(item, f) for f in fields}
        row = existing.get(type_)
        if row is None:
            to_create.append(Balance(account_id=account_id, type=type_, updated_at=now, **values))
        elif any(getattr(row, f) != v for f, v in values.items()):
            for f, v in values.items():
                setattr(row, f, v)
            row.updated_at = now
            to_update.append(row)
    stale = [t for t in existing if t not in wanted]
    if to_create:
        Balance.objects.bulk_create(to_create)
    if to_update:
        Balance.objects.bulk_update(to_update, [*fields, "updated_at"])
    deleted = Balance.objects.filter(Q(account_id=account_id) & Q(type__in=stale)).delete()[0] if stale else 0
    return len(to_create) + len(to_update) + deleted
