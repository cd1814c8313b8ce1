"""Bulk writers of the sync engine: a constant number of statements per batch, never one query per row.

Transactions are upserted on their natural key ``(account_id, provider_transaction_id)``: a row the bank serves
unchanged is not written at all (its ``updated_at`` stays put), a changed one is updated, a new one is inserted
with a fresh ``public_id``. Re-served rows lose ``removed_at`` (a row the bank serves is alive); that is part of
the "changed" test. The caller's transaction (one per page) holds the whole batch.

PostgreSQL, per batch (4 round trips whatever its size):

1. make sure the session's temporary staging table exists (``ON COMMIT DELETE ROWS``) and is empty;
2. ``COPY … FROM STDIN (FORMAT BINARY)`` the rows into it (no WAL, no index, the cheapest way in);
3. delete from the staging table the rows stored exactly as served (one unique-index probe each): an unchanged
   re-sync stops here, having written nothing but the temporary table;
4. ``INSERT … SELECT … FROM staging ON CONFLICT (account_id, provider_transaction_id) DO UPDATE … WHERE <the row
   changed>``; ``RETURNING xmax = 0`` tells inserted from updated rows.

The page transaction commits with ``synchronous_commit = off`` (setting ``AGGREGATOR["SYNC_SYNCHRONOUS_COMMIT"]``
turns that off): atomicity and commit order are unchanged, only a crash in the last fraction of a second can
lose the last pages *of a sync that is still running* (the sync's outcome is committed synchronously, which
flushes every page before it) — they are served again by the next sync, cursor included since it is saved in
the page's transaction.

SQLite (tests, local runs; ≥ 3.35 for RETURNING) gets one multi-row ``INSERT … VALUES … ON CONFLICT`` per 500
rows, telling inserts apart by ``created_at = updated_at``, which only an insert in this very statement produces.
"""

from __future__ import annotations

import functools
import json
import operator
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

import orjson
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection as db
from django.db import transaction
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
    """The text SQLite stores and compares (what Django's JSONField would write, with sorted keys)."""
    return json.dumps(raw or {}, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)


_ENCODER = DjangoJSONEncoder()


def _json_default(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    return _ENCODER.default(value)  # Decimal, dates and times, UUID … exactly as Django writes them


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _raw_json_bytes(raw: object) -> bytes:
    """The JSON PostgreSQL parses into ``jsonb`` (key order and spacing do not matter there): orjson, with
    Django's encoder for the types JSON lacks; the standard library for what orjson refuses (huge integers)."""
    try:
        return orjson.dumps(raw, default=_json_default, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(raw, separators=(",", ":"), default=_json_default).encode()


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


# --- PostgreSQL: COPY into a temporary staging table, then one INSERT … SELECT … ON CONFLICT ---------------
_STAGE = "agg_txn_stage"
_STAGE_COLUMNS: tuple[str, ...] = ("account_id", "provider_transaction_id", *TXN_COLUMNS)
# Binary COPY sends each value in its column type's wire format: psycopg needs the type by name.
_COPY_TYPES = {
    "ForeignKey": "int8",
    "BigIntegerField": "int8",
    "CharField": "varchar",
    "TextField": "text",
    "DateField": "date",
    "DateTimeField": "timestamptz",
    "DecimalField": "numeric",
    "JSONField": "jsonb",
}


# The staged values of one row after its account id, in _STAGE_COLUMNS order (raw, the last one, apart: None → {}).
_copy_values = operator.attrgetter("provider_transaction_id", *TXN_COLUMNS[:-1])
if TXN_COLUMNS[-1] != "raw":  # pragma: no cover - a guard for whoever reorders the columns
    raise ImproperlyConfigured("aggregator.sync.upsert: TXN_COLUMNS must end with 'raw'")


class _PgStatements(NamedTuple):
    prepare: str
    copy: str
    drop_unchanged: str
    merge: str
    copy_types: tuple[str, ...]


@functools.cache
def _pg_statements() -> _PgStatements:
    """The statements of one PostgreSQL batch, built once from the model."""
    fields = {f.attname: f for f in Transaction._meta.concrete_fields}
    # The staging columns have the target's exact types (varchar(200), numeric(20, 4), jsonb …): a value is
    # coerced (rounded, length-checked, parsed) once on its way in, and "unchanged" compares like with like.
    ddl = ", ".join(f"{name} {fields[name].db_type(db)}" for name in _STAGE_COLUMNS)
    cols = ", ".join(TXN_COLUMNS)
    staged = ", ".join(f"s.{c}" for c in TXN_COLUMNS)
    stored = ", ".join(f"e.{c}" for c in TXN_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in TXN_COLUMNS)
    # Identifiers only come from the model and the constants above; every value is a bind parameter.
    return _PgStatements(
        # Created once per session, emptied at every commit (ON COMMIT DELETE ROWS: no catalog churn, no vacuum
        # debt) and before every batch (a caller may upsert twice in one transaction). No parameters, so the
        # three statements travel in one round trip.
        prepare=(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} ({ddl}) ON COMMIT DELETE ROWS; "  # noqa: S608
            f"DELETE FROM {_STAGE}; "
            "SET LOCAL synchronous_commit TO {synchronous_commit}"
        ),
        copy=f"COPY {_STAGE} ({', '.join(_STAGE_COLUMNS)}) FROM STDIN (FORMAT BINARY)",
        # Rows stored exactly as served leave the batch before the upsert: they never reach the conflict path
        # (which locks, and so writes, a row even when its WHERE is false), so re-syncing unchanged data only
        # reads. A statement of its own: joined in the INSERT, a scan of the target would also walk the rows the
        # INSERT is adding (quadratic). A plain join lets the planner pick one unique-index probe per staged row
        # (large table) or one hash of the table (small table, e.g. an account's first pages).
        drop_unchanged=(
            f"DELETE FROM {_STAGE} s USING {_TABLE} e "  # noqa: S608
            "WHERE e.account_id = s.account_id AND e.provider_transaction_id = s.provider_transaction_id "
            f"AND e.removed_at IS NULL AND ({stored}) IS NOT DISTINCT FROM ({staged})"
        ),
        merge=(
            "WITH written AS ("  # noqa: S608
            f"INSERT INTO {_TABLE} AS t (public_id, account_id, provider_transaction_id, {cols}, removed_at, "
            "created_at, updated_at) "
            f"SELECT gen_random_uuid(), s.account_id, s.provider_transaction_id, {staged}, NULL, %(now)s, %(now)s "
            f"FROM {_STAGE} s "
            f"ON CONFLICT (account_id, provider_transaction_id) DO UPDATE SET {updates}, removed_at = NULL, "
            "updated_at = EXCLUDED.updated_at "
            # Tested again: another writer may have stored the same values since the probe.
            f"WHERE {_changed_clause('t.', 'EXCLUDED.', 'IS DISTINCT FROM')} "
            "RETURNING (t.xmax = 0) AS inserted"
            ") SELECT count(*) FILTER (WHERE inserted), count(*) FROM written"
        ),
        copy_types=tuple(_COPY_TYPES[fields[name].get_internal_type()] for name in _STAGE_COLUMNS),
    )


def _upsert_postgresql(batch: Sequence[tuple[int, TransactionData]], now: datetime) -> UpsertResult:
    import psycopg  # the PostgreSQL backend's driver
    from psycopg.types.json import set_json_dumps

    sql = _pg_statements()
    # A page is re-fetchable from the bank, and a later synchronous commit (the sync's outcome) flushes it: it
    # need not wait for its own WAL flush (atomicity and ordering are unchanged; see the module docstring).
    synchronous = "on" if settings.AGGREGATOR.get("SYNC_SYNCHRONOUS_COMMIT", False) else "off"
    db.ensure_connection()
    with transaction.atomic(savepoint=False), psycopg.Cursor(db.connection) as cursor:
        cursor.execute(sql.prepare.replace("{synchronous_commit}", synchronous))
        set_json_dumps(_raw_json_bytes, context=cursor)
        with cursor.copy(sql.copy) as copy:
            copy.set_types(sql.copy_types)
            write = copy.write_row
            for account_id, t in batch:
                write((account_id, *_copy_values(t), t.raw or {}))
        cursor.execute(sql.drop_unchanged)
        if cursor.rowcount == len(batch):
            return UpsertResult()
        cursor.execute(sql.merge, {"now": now})
        added, written = cursor.fetchone()
    return UpsertResult(added=added, modified=written - added)


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
    if not ids or not account_ids:
        return 0
    if db.vendor == "postgresql":
        return _mark_removed_postgresql(list(account_ids), ids, now, pending_only)
    removed = 0
    for start in range(0, len(ids), 2000):
        qs = Transaction.objects.filter(
            account_id__in=account_ids, provider_transaction_id__in=ids[start : start + 2000], removed_at__isnull=True
        )
        if pending_only:
            qs = qs.filter(status=Transaction.Status.PENDING)
        removed += qs.update(removed_at=now, updated_at=now)
    return removed


def _mark_removed_postgresql(account_ids: list[int], ids: list[str], now: datetime, pending_only: bool) -> int:
    """One statement whatever the number of ids, with array parameters (an ``IN`` list of hundreds of placeholders
    costs more to build and parse than the update itself). The rows are found by one probe of the unique index
    per (account, id) and updated by primary key: the planner cannot fall back to reading every row of the
    account, which it would happily do while the table's statistics are stale (a first sync of a large account)."""
    import psycopg

    status = f" AND status = '{Transaction.Status.PENDING}'" if pending_only else ""
    sql = (
        f"UPDATE {_TABLE} SET removed_at = %(now)s, updated_at = %(now)s "  # noqa: S608
        f"WHERE id = ANY(ARRAY(SELECT e.id FROM unnest(%(accounts)s::bigint[]) AS a(account_id) "
        "CROSS JOIN unnest(%(ids)s::text[]) AS i(provider_transaction_id) "
        f"CROSS JOIN LATERAL (SELECT id FROM {_TABLE} WHERE account_id = a.account_id "
        "AND provider_transaction_id = i.provider_transaction_id LIMIT 1) AS e)) "
        f"AND removed_at IS NULL{status}"
    )
    db.ensure_connection()
    with psycopg.Cursor(db.connection) as cursor:
        cursor.execute(sql, {"now": now, "accounts": account_ids, "ids": ids})
        return cursor.rowcount


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
