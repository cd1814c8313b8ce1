"""Keyset pagination and opaque cursors.

Transactions are listed newest first in the total order ``(booking_date DESC, id DESC)``. A page cursor is the
position of the last row handed out; the next page is ``WHERE (booking_date, id) < (d, i) ORDER BY
booking_date DESC, id DESC LIMIT n + 1`` — a row-value comparison, which is the index condition itself — so it
walks the ``(account, -booking_date, -id)`` index from that position: the cost of page 5,000 is the cost of
page 1. Unlike DRF's ``CursorPagination`` there is no OFFSET among equal booking dates, because ``id`` breaks
every tie. Rows inserted while a client pages are either before its position (not seen in this walk) or after
it (seen once) — never twice.

Cursors are opaque and signed (``aggregator.cursors``).
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

__all__ = ["keyset_page"]


def keyset_page(
    queryset: QuerySet, *, after: tuple[dt.date, int] | None, page_size: int, fields: tuple[str, ...]
) -> tuple[list[dict], tuple[dt.date, int] | None]:
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
