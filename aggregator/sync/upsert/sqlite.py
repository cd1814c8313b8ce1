"""The SQLite path of the transaction upsert (tests, local runs): one multi-row INSERT … ON CONFLICT per batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from django.db import connection as db

from providers.base import TransactionData

from ...models import Transaction
from ._base import TABLE, TXN_COLUMNS, UpsertResult, changed_clause, raw_json

__all__ = ["BATCH", "upsert"]

BATCH = 500  # 19 parameters a row, well under SQLite's 32766 variables


def _sql(n_rows: int) -> str:
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
        f"INSERT INTO {TABLE} ({', '.join(cols)}) VALUES {', '.join([row] * n_rows)} "  # noqa: S608
        f"ON CONFLICT (account_id, provider_transaction_id) DO UPDATE SET {updates}, removed_at = NULL, "
        f"updated_at = excluded.updated_at "
        f"WHERE {changed_clause(TABLE + '.', 'excluded.', 'IS NOT')} "
        f"RETURNING created_at = updated_at"
    )


def upsert(batch: Sequence[tuple[int, TransactionData]], now: datetime) -> UpsertResult:
    fields = {f.attname: f for f in Transaction._meta.concrete_fields}
    prep = {name: (lambda v, f=fields[name]: f.get_db_prep_save(v, db)) for name in TXN_COLUMNS if name != "raw"}
    stamp = fields["created_at"].get_db_prep_save(now, db)
    params: list = []
    for account_id, item in batch:
        params.append(uuid.uuid4().hex)
        params.append(account_id)
        params.append(item.provider_transaction_id)
        for name in TXN_COLUMNS:
            params.append(raw_json(item.raw) if name == "raw" else prep[name](getattr(item, name)))
        params.extend([None, stamp, stamp])
    with db.cursor() as cursor:
        cursor.execute(_sql(len(batch)), params)
        flags = cursor.fetchall()
    added = sum(1 for (inserted,) in flags if inserted)
    return UpsertResult(added=added, modified=len(flags) - added)
