"""What a leaf says: RFC 8785 canonical JSON of a logged event, with no personal data in clear.

::

    {"v": 1, "event_id": "…", "event": "consent.status_changed", "subject": {"type": "consent", "id": "…"},
     "occurred_at": "2026-11-29T23:59:01.123456Z", "logged_at": "…", "data": {…},
     "commitments": {"user": "<hex>", "data.iban": "<hex>"}}

``data`` is the domain event's data minus the personal keys of ``LEDGER["COMMITTED_FIELDS"]``; each of those, and
the user the subject belongs to, appears only as a commitment: HMAC-SHA256 keyed with a random per-person salt
(:class:`~aggregator.ledger.models.LedgerSalt`) over the value's canonical JSON. Whoever holds the salt and the
value (the person, or we on their request) can show that a leaf is about them; once the salt is erased nobody
can, and the leaf — hence the tree — is unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import rfc8785

from .conf import ledger_settings

__all__ = ["LEAF_VERSION", "commitment", "leaf_bytes", "utc_text"]

LEAF_VERSION = 1


def utc_text(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def commitment(salt: bytes, value: Any) -> str:
    return hmac.new(salt, rfc8785.dumps(value), hashlib.sha256).hexdigest()


def _plain(value: Any) -> Any:
    """JSON values RFC 8785 accepts (no floats that are not finite, no tuples, text keys)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return utc_text(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # Decimal, UUID, date: their text


def leaf_bytes(
    *,
    event_id: str,
    name: str,
    subject_type: str,
    subject_id: str,
    occurred_at: dt.datetime,
    logged_at: dt.datetime,
    data: Mapping[str, Any],
    user_key: str | None,
    salt: bytes | None,
) -> bytes:
    """The leaf of one event. ``user_key`` (e.g. ``user:42``) and its ``salt`` commit to the person concerned;
    without a salt, personal fields of ``data`` are dropped rather than logged."""
    personal = set(ledger_settings.COMMITTED_FIELDS)
    commitments: dict[str, str] = {}
    public: dict[str, Any] = {}
    for key, value in _plain(dict(data)).items():
        if key in personal:
            if salt is not None:
                commitments[f"data.{key}"] = commitment(salt, value)
        else:
            public[key] = value
    if user_key is not None and salt is not None:
        commitments["user"] = commitment(salt, user_key)
    document = {
        "v": LEAF_VERSION,
        "event_id": event_id,
        "event": name,
        "subject": {"type": subject_type, "id": subject_id},
        "occurred_at": utc_text(occurred_at),
        "logged_at": utc_text(logged_at),
        "data": public,
        "commitments": commitments,
    }
    return rfc8785.dumps(document)
