"""Bulk writers of the sync engine: one statement per batch, never one query per row.

Transactions are upserted on their natural key ``(account_id, provider_transaction_id)`` with
``INSERT … ON CONFLICT … DO UPDATE … WHERE <the row changed>``: a row the bank serves unchanged is not written
at all (its ``updated_at`` stays put), a changed one is updated, a new one is inserted with a ``public_id``
generated here. ``RETURNING`` tells inserted from updated rows (PostgreSQL: ``xmax = 0``; SQLite:
``created_at = updated_at``, which only an insert in this very statement can produce).

On PostgreSQL the batch travels as one array per column through ``unnest`` (a constant number of bind
parameters whatever the batch size, binary protocol); SQLite (≥ 3.35 for RETURNING) gets a multi-row VALUES.

Re-served rows lose ``removed_at`` (a row the bank serves is alive); that is part of the "changed" test.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection as db
from django.db.models import Q

from providers.base import BalanceData, PermanentProviderError, TransactionData

from ..models import Balance, Transaction

__all__ = [
    "TXN_COLUMNS",
    "UpsertResult",
    "balances_upsert",
    "transactions_mark_removed",
    "transactions_upsert",
]

# Columns copied from TransactionData (the data part of the row, compared to decide "changed").
TXN_COLUMNS: tuple[str, ...] = (
    "status",
    "booking_date",
    "booked_at",
    "value_date",
    "amount",
    "currency",
    "description",
    "merchant_name",
    "category",
    "counterparty_name",
    "bank_transaction_code",
    "pending_transaction_id",
    "raw",
)
_PG_TYPES = {
    "status": "text",
    "booking_date": "date",
    "booked_at": "timestamptz",
    "value_date": "date",
    "amount": "numeric",
    "currency": "text",
    "description": "text",
    "merchant_name": "text",
    "category": "text",
    "counterparty_name": "text",
    "bank_transaction_code": "text",
    "pending_transaction_id": "text",
    "raw": "text",  # cast to jsonb in the SELECT
}
_SQLITE_BATCH = 500  # 19 parameters a row, well under SQLite's 32766 variables
_PG_BATCH = 5000
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TABLE = Transaction._meta.db_table


@dataclass
class UpsertResult:
    added: int = 0
    modified: int = 0

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.added += other.added
        self.modified += other.modified
        return self

    @property
    def written(self) -> int:
        return self.added + self.modified


def _raw_json(raw: object) -> str:
    return json.dumps(raw or {}, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)


def _check(item: TransactionData) -> None:
    """A malformed record is the bank's (or adapter's) error, never silently stored."""
    if item.status not in ("booked", "pending"):
        raise PermanentProviderError(f"transaction {item.provider_transaction_id!r}: bad status {item.status!r}")
    if not isinstance(item.amount, Decimal) or not item.amount.is_finite():
        raise PermanentProviderError(f"transaction {item.provider_transaction_id!r}: amount must be a finite Decimal")
    if not isinstance(item.currency, str) or not _CURRENCY.match(item.currency):
        raise PermanentProviderError(f"transaction {item.provider_transaction_id!r}: bad currency {item.currency!r}")
    if not isinstance(item.booking_date, date) or isinstance(item.booking_date, datetime):
        raise PermanentProviderError(f"transaction {item.provider_transaction_id!r}: booking_date must be a date")
    if item.booked_at is not None and item.booked_at.tzinfo is None:
        raise PermanentProviderError(f"transaction {item.provider_transaction_id!r}: booked_at must be aware")
    if not item.provider_transaction_id or len(item.provider_transaction_id) > 200:
        raise PermanentProviderError("transaction without a usable id")


def _dedupe(rows: Iterable[tuple[int, TransactionData]]) -> list[tuple[int, TransactionData]]:
    """One row per key (a statement may not touch a row twice); the last occurrence wins."""
    unique: dict[tuple[int, str], tuple[int, TransactionData]] = {}
    for account_id, item in rows:
        _check(item)
        unique[(account_id, item.provider_transaction_id)] = (account_id, item)
    return list(unique.values())


def transactions_upsert(*, rows: Iterable[tuple[int, TransactionData]], now: datetime) -> UpsertResult:
    """Upsert ``(account_id, TransactionData)`` rows; returns how many were inserted / updated (unchanged rows are
    neither). Call inside the caller's transaction (one per page)."""
    unique = _dedupe(rows)
    result = UpsertResult()
    if not unique:
        return result
    if db.vendor == "postgresql":
        for start in range(0, len(unique), _PG_BATCH):
            result += _upsert_postgresql(unique[start : start + _PG_BATCH], now)
    else:
        for start in range(0, len(unique), _SQLITE_BATCH):
            result += _upsert_sqlite(unique[start : start + _SQLITE_BATCH], now)
    return result


def _changed_clause(left: str, right: str, distinct: str) -> str:
    cols = ", ".join(f"{left}{c}" for c in TXN_COLUMNS)
    ex = ", ".join(f"{right}{c}" for c in TXN_COLUMNS)
    return f"({cols}) {distinct} ({ex}) OR {left}removed_at IS NOT NULL"


def _pg_sql() -> str:
    cols = ", ".join(TXN_COLUMNS)
    # %b: binary parameters — arrays are sent without text escaping (several times cheaper to encode)
    unnest_args = ", ".join(
        ["%b::uuid[]", "%b::bigint[]", "%b::text[]"] + [f"%b::{_PG_TYPES[c]}[]" for c in TXN_COLUMNS]
    )
    select_cols = ", ".join("u.raw::jsonb" if c == "raw" else f"u.{c}" for c in TXN_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in TXN_COLUMNS)
    return (
        # Identifiers only come from the constants above; every value is a bind parameter.
        f"INSERT INTO {_TABLE} AS t (public_id, account_id, provider_transaction_id, {cols}, removed_at, "  # noqa: S608
        f"created_at, updated_at) "
        f"SELECT u.public_id, u.account_id, u.provider_transaction_id, {select_cols}, NULL, %s, %s "
        f"FROM unnest({unnest_args}) AS u(public_id, account_id, provider_transaction_id, {cols}) "
        f"ON CONFLICT (account_id, provider_transaction_id) DO UPDATE SET {updates}, removed_at = NULL, "
        f"updated_at = EXCLUDED.updated_at "
        f"WHERE {_changed_clause('t.', 'EXCLUDED.', 'IS DISTINCT FROM')} "
        f"RETURNING (xmax = 0)"
    )


_PG_SQL: str | None = None


def _upsert_postgresql(batch: Sequence[tuple[int, TransactionData]], now: datetime) -> UpsertResult:
    global _PG_SQL
    if _PG_SQL is None:
        _PG_SQL = _pg_sql()
    columns: list[list] = [
        [uuid.uuid4() for _ in batch],
        [a for a, _ in batch],
        [t.provider_transaction_id for _, t in batch],
    ]
    for name in TXN_COLUMNS:
        if name == "raw":
            columns.append([_raw_json(t.raw) for _, t in batch])
        else:
            columns.append([getattr(t, name) for _, t in batch])
    import psycopg  # the PostgreSQL backend's driver: server-side binding sends the arrays compactly

    db.ensure_connection()
    with psycopg.Cursor(db.connection) as cursor:
        cursor.execute(_PG_SQL, [now, now, *columns])  # created_at, updated_at come first in the SQL
        flags = cursor.fetchall()
    added = sum(1 for (inserted,) in flags if inserted)
    return UpsertResult(added=added, modified=len(flags) - added)


def _sqlite_sql(n_rows: int) -> str:
    cols = [
        "public_id",
        "account_id",
        "provider_transaction_id",
        *TXN_COLUMNS,
        "removed_at",
        "created_at",
        "updated_at",
    ]
    row = "(" + ", ".join(["%s"] * len(cols)) + ")"
    updates = ", ".join(f"{c} = excluded.{c}" for c in TXN_COLUMNS)
    return (
        f"INSERT INTO {_TABLE} ({', '.join(cols)}) VALUES {', '.join([row] * n_rows)} "  # noqa: S608
        f"ON CONFLICT (account_id, provider_transaction_id) DO UPDATE SET {updates}, removed_at = NULL, "
        f"updated_at = excluded.updated_at "
        f"WHERE {_changed_clause(_TABLE + '.', 'excluded.', 'IS NOT')} "
        f"RETURNING created_at = updated_at"
    )


def _upsert_sqlite(batch: Sequence[tuple[int, TransactionData]], now: datetime) -> UpsertResult:
    fields = {f.attname: f for f in Transaction._meta.concrete_fields}
    prep = {name: (lambda v, f=fields[name]: f.get_db_prep_save(v, db)) for name in TXN_COLUMNS if name != "raw"}
    stamp = fields["created_at"].get_db_prep_save(now, db)
    params: list = []
    for account_id, item in batch:
        params.append(uuid.uuid4().hex)
        params.append(account_id)
        params.append(item.provider_transaction_id)
        for name in TXN_COLUMNS:
            params.append(_raw_json(item.raw) if name == "raw" else prep[name](getattr(item, name)))
        params.extend([None, stamp, stamp])
    with db.cursor() as cursor:
        cursor.execute(_sqlite_sql(len(batch)), params)
        flags = cursor.fetchall()
    added = sum(1 for (inserted,) in flags if inserted)
    return UpsertResult(added=added, modified=len(flags) - added)


def transactions_mark_removed(
    *,
    account_ids: Sequence[int],
    provider_ids: Iterable[str],
    now: datetime,
    pending_only: bool = False,
) -> int:
    """Set ``removed_at`` on the listed live transactions of these accounts; returns how many changed."""
    ids = list(dict.fromkeys(provider_ids))
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
        if not _CURRENCY.match(item.currency or ""):
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
