"""Writing enrichments in bulk: one statement per batch, no model instances.

On PostgreSQL the batch travels as column arrays (``unnest``) into ``INSERT … ON CONFLICT DO UPDATE`` — one round
trip and no per-row ORM work, which is what keeps the enrichment of a first sync (thousands of rows) within the
sync's own time (``python -m benchmarks insights`` measures both in one run). Elsewhere (SQLite: tests, local
runs) Django's ``bulk_create(update_conflicts=True)`` does the same. Counterparties are created the same way
(``ON CONFLICT DO NOTHING``: one row per name key, shared by every account).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from django.db import connection as db

from .engine import Enrichment
from .models import Counterparty, TransactionEnrichment

__all__ = ["counterparties_ensure", "enrichments_store"]

_UPDATED = (
    "category_primary",
    "category_detailed",
    "confidence",
    "source",
    "probability",
    "counterparty",
    "taxonomy_version",
    "model_version",
    "updated_at",
)


def _column(model: type, name: str) -> str:
    return db.ops.quote_name(model._meta.get_field(name).column)


@functools.cache
def _statements() -> tuple[str, str, str]:
    """(enrichment upsert, counterparty insert, counterparty ids) for PostgreSQL, built once from the models."""
    te = db.ops.quote_name(TransactionEnrichment._meta.db_table)
    cols = ", ".join(_column(TransactionEnrichment, n) for n in ("transaction", *_UPDATED))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in (_column(TransactionEnrichment, n) for n in _UPDATED))
    pk = _column(TransactionEnrichment, "transaction")
    # Identifiers come from the models only; every value is a bind parameter (arrays, then the batch constants).
    upsert = (
        f"INSERT INTO {te} ({cols}) "  # noqa: S608
        "SELECT t.*, %s, %s, %s FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[], "
        "%s::varchar[], %s::float8[], %s::bigint[]) AS t "
        f"ON CONFLICT ({pk}) DO UPDATE SET {updates}"
    )
    cp = db.ops.quote_name(Counterparty._meta.db_table)
    cp_cols = ", ".join(_column(Counterparty, n) for n in ("key", "public_id", "name", "type", "updated_at"))
    insert = (
        f"INSERT INTO {cp} ({cp_cols}) "  # noqa: S608
        "SELECT t.*, %s FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[]) AS t "
        "ON CONFLICT DO NOTHING"
    )
    ids = f"SELECT {_column(Counterparty, 'key')}, id FROM {cp} WHERE {_column(Counterparty, 'key')} = ANY(%s)"  # noqa: S608
    return upsert, insert, ids


def counterparties_ensure(results: Sequence[Enrichment], *, now: datetime) -> dict[str, int]:
    """Counterparty rows for every key in ``results`` (created as needed) → their primary keys."""
    wanted = {e.counterparty.key: e.counterparty for e in results if e.counterparty.key}
    if not wanted:
        return {}
    if db.vendor != "postgresql":
        Counterparty.objects.bulk_create(
            [Counterparty(key=k, public_id=c.id, name=c.name[:200], type=c.type) for k, c in wanted.items()],
            ignore_conflicts=True,
            batch_size=1000,
        )
        return dict(Counterparty.objects.filter(key__in=list(wanted)).values_list("key", "id"))
    _, insert, ids = _statements()
    keys = list(wanted)
    with db.cursor() as cursor:
        cursor.execute(
            insert,
            [
                now,
                keys,
                [wanted[k].id for k in keys],
                [wanted[k].name[:200] for k in keys],
                [wanted[k].type for k in keys],
            ],
        )
        cursor.execute(ids, [keys])
        return dict(cursor.fetchall())


def enrichments_store(
    results: Sequence[Enrichment], *, taxonomy_version: str, model_version: str, now: datetime
) -> dict[str, int]:
    """Insert or replace the enrichment of each result's transaction (``Enrichment.key`` is its primary key);
    returns the counterparties' primary keys by name key."""
    if not results:
        return {}
    ids = counterparties_ensure(results, now=now)
    if db.vendor != "postgresql":
        TransactionEnrichment.objects.bulk_create(
            [
                TransactionEnrichment(
                    transaction_id=e.key,
                    category_primary=e.primary,
                    category_detailed=e.detailed,
                    confidence=e.confidence,
                    source=e.source,
                    probability=round(e.probability, 6),
                    counterparty_id=ids.get(e.counterparty.key),
                    taxonomy_version=taxonomy_version,
                    model_version=model_version,
                    updated_at=now,
                )
                for e in results
            ],
            update_conflicts=True,
            unique_fields=["transaction"],
            update_fields=list(_UPDATED),
            batch_size=1000,
        )
        return ids
    upsert, _, _ = _statements()
    with db.cursor() as cursor:
        cursor.execute(
            upsert,
            [
                taxonomy_version,
                model_version,
                now,
                _numbers([e.key for e in results]),
                _texts([e.primary for e in results]),
                _texts([e.detailed for e in results]),
                _texts([e.confidence for e in results]),
                _texts([e.source for e in results]),
                _numbers([round(e.probability, 6) for e in results]),
                _numbers([ids.get(e.counterparty.key) for e in results]),
            ],
        )
    return ids


# Each column travels as one PostgreSQL array literal (a single text parameter, cast in the statement): the
# driver's own list adaptation quotes element by element in Python, several times slower for a whole first sync.
def _numbers(values: Sequence[int | float | None]) -> str:
    """``{1,2.5,NULL}``: integers and floats print as PostgreSQL reads them."""
    return "{" + ",".join("NULL" if v is None else repr(v) for v in values) + "}"


def _texts(values: Sequence[str]) -> str:
    """``{"a","b \\"quoted\\""}``: every element double-quoted, backslashes and quotes escaped."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"
