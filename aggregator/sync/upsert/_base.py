"""What both database paths of the upsert share: the compared columns, the result, the raw-JSON encoders."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
from django.core.serializers.json import DjangoJSONEncoder

from ...models import TRANSACTION_DATA_COLUMNS, Transaction

__all__ = ["TXN_COLUMNS", "UpsertResult", "changed_clause", "raw_json", "raw_json_bytes"]

# Columns copied from TransactionData (the data part of the row, compared to decide "changed").
TXN_COLUMNS: tuple[str, ...] = TRANSACTION_DATA_COLUMNS
TABLE = Transaction._meta.db_table


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


def raw_json(raw: object) -> str:
    """The text SQLite stores and compares (what Django's JSONField would write, with sorted keys)."""
    return json.dumps(raw or {}, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)


_ENCODER = DjangoJSONEncoder()


def _json_default(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    return _ENCODER.default(value)  # Decimal, dates and times, UUID … exactly as Django writes them


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def raw_json_bytes(raw: object) -> bytes:
    """The JSON PostgreSQL parses into ``jsonb`` (key order and spacing do not matter there): orjson, with
    Django's encoder for the types JSON lacks; the standard library for what orjson refuses (huge integers)."""
    try:
        return orjson.dumps(raw, default=_json_default, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(raw, separators=(",", ":"), default=_json_default).encode()


def changed_clause(left: str, right: str, distinct: str) -> str:
    cols = ", ".join(f"{left}{c}" for c in TXN_COLUMNS)
    ex = ", ".join(f"{right}{c}" for c in TXN_COLUMNS)
    return f"({cols}) {distinct} ({ex}) OR {left}removed_at IS NOT NULL"
