"""The PostgreSQL path of the transaction upsert (see ``aggregator.sync.upsert`` for the steps and why)."""

from __future__ import annotations

import functools
import hashlib
import operator
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from django.core.exceptions import ImproperlyConfigured
from django.db import connection as db
from django.db import transaction

from aggregator.conf import aggregator_settings
from providers.base import TransactionData

from ...models import Transaction
from ._base import TABLE, TXN_COLUMNS, UpsertResult, changed_clause, raw_json_bytes

__all__ = [
    "COPY_COLUMNS",
    "copy_values",
    "mark_removed",
    "mark_removed_sql",
    "raw_json_bytes",
    "statements",
    "upsert",
]

COPY_COLUMNS: tuple[str, ...] = ("account_id", "provider_transaction_id", *TXN_COLUMNS)
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


# The staged values of one row after its account id, in COPY_COLUMNS order (raw, the last one, apart: None → {}).
copy_values = operator.attrgetter("provider_transaction_id", *TXN_COLUMNS[:-1])
if TXN_COLUMNS[-1] != "raw":  # pragma: no cover - a guard for whoever reorders the columns
    raise ImproperlyConfigured("aggregator.sync.upsert: TXN_COLUMNS must end with 'raw'")


class Statements(NamedTuple):
    prepare: str
    copy: str
    drop_unchanged: str
    merge: str
    copy_types: tuple[str, ...]


@functools.cache
def statements() -> Statements:
    """The statements of one PostgreSQL batch, built once from the model."""
    fields = {f.attname: f for f in Transaction._meta.concrete_fields}
    # The staging columns have the target's exact types (varchar(200), numeric(20, 4), jsonb …): a value is
    # coerced (rounded, length-checked, parsed) once on its way in, and "unchanged" compares like with like.
    ddl = ", ".join(f"{name} {fields[name].db_type(db)}" for name in COPY_COLUMNS)
    # Named after its definition: a session that outlives a migration (persistent connections, a pooler) never
    # copies into a staging table of the old shape.
    stage = f"agg_txn_stage_{hashlib.sha256(ddl.encode()).hexdigest()[:12]}"
    cols = ", ".join(TXN_COLUMNS)
    staged = ", ".join(f"s.{c}" for c in TXN_COLUMNS)
    stored = ", ".join(f"e.{c}" for c in TXN_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in TXN_COLUMNS)
    # Identifiers only come from the model and the constants above; every value is a bind parameter.
    return Statements(
        # Created once per session, emptied at every commit (ON COMMIT DELETE ROWS: no catalog churn, no vacuum
        # debt) and before every batch (a caller may upsert twice in one transaction). No parameters, so the
        # three statements travel in one round trip.
        prepare=(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ({ddl}) ON COMMIT DELETE ROWS; "  # noqa: S608
            f"DELETE FROM {stage}; "
            "SET LOCAL synchronous_commit TO {synchronous_commit}"
        ),
        copy=f"COPY {stage} ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)",
        # Rows stored exactly as served leave the batch before the upsert: they never reach the conflict path
        # (which locks, and so writes, a row even when its WHERE is false), so re-syncing unchanged data only
        # reads. A statement of its own: joined in the INSERT, a scan of the target would also walk the rows the
        # INSERT is adding (quadratic). A plain join lets the planner pick one unique-index probe per staged row
        # (large table) or one hash of the table (small table, e.g. an account's first pages).
        # The batch's accounts as a constant too: on the table partitioned by account (migration 0013) the
        # planner then reads only their partitions (a join key alone cannot prune).
        drop_unchanged=(
            f"DELETE FROM {stage} s USING {TABLE} e "  # noqa: S608
            "WHERE e.account_id = ANY(%(accounts)s::bigint[]) "
            "AND e.account_id = s.account_id AND e.provider_transaction_id = s.provider_transaction_id "
            f"AND e.removed_at IS NULL AND ({stored}) IS NOT DISTINCT FROM ({staged})"
        ),
        # Inserted or updated: each staged row gets its new public id up front, and a returned row that carries
        # it was inserted (an update keeps the stored one). ``RETURNING xmax = 0`` would say the same, but a
        # partitioned table (migration 0013) cannot return system columns.
        merge=(
            f"WITH src AS MATERIALIZED (SELECT gen_random_uuid() AS new_public_id, * FROM {stage}), "  # noqa: S608
            "written AS ("
            f"INSERT INTO {TABLE} AS t (public_id, account_id, provider_transaction_id, {cols}, removed_at, "
            "created_at, updated_at) "
            f"SELECT s.new_public_id, s.account_id, s.provider_transaction_id, {staged}, NULL, %(now)s, %(now)s "
            "FROM src s "
            f"ON CONFLICT (account_id, provider_transaction_id) DO UPDATE SET {updates}, removed_at = NULL, "
            "updated_at = EXCLUDED.updated_at "
            # Tested again: another writer may have stored the same values since the probe.
            f"WHERE {changed_clause('t.', 'EXCLUDED.', 'IS DISTINCT FROM')} "
            "RETURNING t.public_id"
            ") SELECT count(s.new_public_id), count(*) FROM written w LEFT JOIN src s ON s.new_public_id = w.public_id"
        ),
        copy_types=tuple(_COPY_TYPES[fields[name].get_internal_type()] for name in COPY_COLUMNS),
    )


def upsert(batch: Sequence[tuple[int, TransactionData]], now: datetime) -> UpsertResult:
    import psycopg  # the PostgreSQL backend's driver
    from psycopg.types.json import set_json_dumps

    sql = statements()
    # A page is re-fetchable from the bank, and a later synchronous commit (the sync's outcome) flushes it: it
    # need not wait for its own WAL flush (atomicity and ordering are unchanged; see the module docstring).
    synchronous = "on" if aggregator_settings.SYNC_SYNCHRONOUS_COMMIT else "off"
    db.ensure_connection()
    with transaction.atomic(savepoint=False), psycopg.Cursor(db.connection) as cursor:
        cursor.execute(sql.prepare.replace("{synchronous_commit}", synchronous))
        set_json_dumps(raw_json_bytes, context=cursor)
        with cursor.copy(sql.copy) as copy:
            copy.set_types(sql.copy_types)
            write = copy.write_row
            for account_id, t in batch:
                write((account_id, *copy_values(t), t.raw or {}))
        cursor.execute(sql.drop_unchanged, {"accounts": sorted({account_id for account_id, _ in batch})})
        if cursor.rowcount == len(batch):
            return UpsertResult()
        cursor.execute(sql.merge, {"now": now})
        added, written = cursor.fetchone()
    return UpsertResult(added=added, modified=written - added)


def mark_removed(account_ids: list[int], ids: list[str], now: datetime, pending_only: bool) -> int:
    """One statement whatever the number of ids, with array parameters (an ``IN`` list of hundreds of placeholders
    costs more to build and parse than the update itself). The rows are found by one probe of the unique index
    per (account, id) and updated by primary key: the planner cannot fall back to reading every row of the
    account, which it would happily do while the table's statistics are stale (a first sync of a large account)."""
    import psycopg

    db.ensure_connection()
    with psycopg.Cursor(db.connection) as cursor:
        cursor.execute(mark_removed_sql(pending_only), {"now": now, "accounts": account_ids, "ids": ids})
        return cursor.rowcount


def mark_removed_sql(pending_only: bool) -> str:
    """The statement of :func:`mark_removed` (parameters ``now``, ``accounts``, ``ids``)."""
    status = f" AND status = '{Transaction.Status.PENDING}'" if pending_only else ""
    return (
        f"UPDATE {TABLE} SET removed_at = %(now)s, updated_at = %(now)s "  # noqa: S608
        # The account constants let the partitioned table (migration 0013) be read in those accounts' partitions.
        "WHERE account_id = ANY(%(accounts)s::bigint[]) "
        f"AND id = ANY(ARRAY(SELECT e.id FROM unnest(%(accounts)s::bigint[]) AS a(account_id) "
        "CROSS JOIN unnest(%(ids)s::text[]) AS i(provider_transaction_id) "
        f"CROSS JOIN LATERAL (SELECT id FROM {TABLE} WHERE account_id = ANY(%(accounts)s::bigint[]) "
        "AND account_id = a.account_id "
        "AND provider_transaction_id = i.provider_transaction_id LIMIT 1) AS e)) "
        f"AND removed_at IS NULL{status}"
    )
