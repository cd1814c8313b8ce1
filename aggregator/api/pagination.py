"""Keyset pagination and opaque cursors.

Transactions are listed newest first in the total order ``(booking_date DESC, id DESC)``. A page cursor is the
position of the last row handed out; the next page is ``WHERE (booking_date, id) < (d, i) ORDER BY
booking_date DESC, id DESC LIMIT n + 1`` — a row-value comparison, which is the index condition itself — so it
walks the ``(account, -booking_date, -id)`` index from that position: the cost of page 5,000 is the cost of
page 1. Unlike DRF's ``CursorPagination`` there is no OFFSET among equal booking dates, because ``id`` breaks
every tie. Rows inserted while a client pages are either before its position (not seen in this walk) or after
it (seen once) — never twice.

Cursors are ``base64url(json ‖ mac)`` without padding: opaque to clients, tamper-evident (an HMAC derived from
``SECRET_KEY`` bound to their purpose and owner), and rejected with ``400`` / field ``cursor`` when altered.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
from typing import Any

import orjson
from django.db import connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.crypto import salted_hmac
from rest_framework.exceptions import ValidationError

__all__ = ["CursorError", "cursor_decode", "cursor_encode", "keyset_page"]

_MAC_BYTES = 12


class CursorError(ValidationError):
    def __init__(self) -> None:
        super().__init__({"cursor": ["The cursor is invalid or was issued for another resource."]}, code="invalid")


def _mac(payload: bytes, purpose: str, owner: str) -> bytes:
    return salted_hmac(f"aggregator.api.cursor:{purpose}:{owner}", payload, algorithm="sha256").digest()[:_MAC_BYTES]


def cursor_encode(data: dict[str, Any], *, purpose: str, owner: str) -> str:
    payload = orjson.dumps(data)
    return base64.urlsafe_b64encode(payload + _mac(payload, purpose, owner)).rstrip(b"=").decode("ascii")


def cursor_decode(token: str, *, purpose: str, owner: str) -> dict[str, Any]:
    """The cursor's data, or :class:`CursorError` (a 400 on field ``cursor``)."""
    if not token or len(token) > 512:
        raise CursorError()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CursorError() from exc
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, _mac(payload, purpose, owner)):
        raise CursorError()
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise CursorError() from exc
    if not isinstance(data, dict):
        raise CursorError()
    return data


def keyset_page(
    queryset: QuerySet, *, after: tuple[dt.date, int] | None, page_size: int, fields: tuple[str, ...]
) -> tuple[list[dict[str, Any]], tuple[dt.date, int] | None]:
    """One page of ``queryset`` (already ordered ``-booking_date, -id``) as ``values(*fields)`` rows, after the
    position ``after``; returns the rows and the position of the last one when more follow (else ``None``)."""
    if after is not None:
        day, row_id = after
        # A row-value comparison, so that the whole position — ties on the same day included — is the index
        # condition of the (account, booking_date DESC, id DESC) scan (PostgreSQL; SQLite ≥ 3.15 has row values).
        quote = connection.ops.quote_name
        table = quote(queryset.model._meta.db_table)
        queryset = queryset.filter(
            RawSQL(  # noqa: S611 - only quoted identifiers are interpolated; values are parameters
                f"({table}.{quote('booking_date')}, {table}.{quote('id')}) < (%s, %s)",
                (day, row_id),
                output_field=BooleanField(),
            )
        )
    rows = list(queryset.values(*fields)[: page_size + 1])
    if len(rows) > page_size:
        rows = rows[:page_size]
        last = rows[-1]
        return rows, (last["booking_date"], last["id"])
    return rows, None
