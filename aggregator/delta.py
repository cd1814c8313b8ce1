"""The transaction delta feed's rules: what a client's cursor has seen, and what to hand it next.

**Semantics** (what a client may rely on). A client walks the feed in *walks*: from a cursor, it calls until
``has_more`` is false; the last ``next_cursor`` is the start of its next walk. Each walk covers the changes up to
a *snapshot* time ``S`` fixed when the walk starts (rows stamped later wait for the next walk).

* A row is ``added`` the first time the client's cursor passes it: in the walk whose snapshot first includes
  the row's creation. The first walk (no cursor) returns every live transaction as ``added`` — nothing else.
* A row the cursor passed in an earlier walk and that changed since is ``modified`` (its current version), or
  ``removed`` when it was removed (a pending item that posted under a new id or vanished). ``removed`` is never
  sent for a row the client was not given: a row created and removed before a walk passed it is not mentioned.
* A row that changed while the client walked may come once more as ``modified`` in the next walk (same or newer
  content): applying ``modified`` as an upsert by id is always right.

**How.** Each walk has two phases over the consent's transactions (``transactions``, removed rows included):

1. *added*: rows created in ``(since, S]`` (``since`` = the previous walk's snapshot) and live as of ``S`` (not
   removed, or removed after ``S``), in ``(created_at, id)`` order (index ``txn_account_created_idx``);
2. *changed*: rows created up to ``since`` and stamped in ``(since, S]``, in ``(updated_at, id)`` order (index
   ``txn_account_changes_idx``) — each ``removed`` if it was removed by ``S``, else ``modified``.

A row of phase 2 was created by ``since``, so an earlier walk's phase 1 passed it; it was given to the client then
unless it had already been removed by that walk's snapshot — but then its last stamp is older than ``since`` and
phase 2 never sees it. Hence the rules above hold exactly, at any page size and while rows arrive.

``S`` is a *watermark*: ``now - DELTA_FEED_SAFETY_LAG_SECONDS`` and, on PostgreSQL, before the start of the
oldest transaction still writing, so no row stamped up to ``S`` can still be uncommitted (a writer's stamps are
never older than its transaction). Cursors are signed (:mod:`aggregator.cursors`), bound to the consent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import connection as db_connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from .conf import aggregator_settings
from .cursors import InvalidCursorError, cursor_decode, cursor_encode
from .models import Transaction

__all__ = [
    "DeltaPage",
    "DeltaPosition",
    "delta_cursor_decode",
    "delta_cursor_encode",
    "delta_cursor_since",
    "transaction_change_watermark",
    "transaction_delta",
]

PURPOSE = "delta"
PHASE_ADDED = "a"
PHASE_CHANGED = "c"


@dataclass(frozen=True)
class DeltaPosition:
    """Where a client is: ``since`` (the snapshot it has completely; ``None``: nothing yet) and, in the middle of a
    walk, the walk's snapshot ``until``, its ``phase`` and the keyset position ``after`` within the phase."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    phase: str = PHASE_ADDED
    after: tuple[dt.datetime, int] | None = None


@dataclass
class DeltaPage:
    added: list[Transaction] = field(default_factory=list)
    modified: list[Transaction] = field(default_factory=list)
    removed: list[Transaction] = field(default_factory=list)
    next_position: DeltaPosition = field(default_factory=DeltaPosition)
    has_more: bool = False


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: object) -> dt.datetime | None:
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError("naive timestamp")
    return parsed


def delta_cursor_encode(position: DeltaPosition, *, owner: str) -> str:
    data: dict = {"s": _iso(position.since)}
    if position.until is not None:
        data.update({"t": _iso(position.until), "p": position.phase})
        if position.after is not None:
            data["k"] = [_iso(position.after[0]), position.after[1]]
    return cursor_encode(data, purpose=PURPOSE, owner=owner)


def delta_cursor_decode(token: str, *, owner: str) -> DeltaPosition:
    """The position in ``token`` (signed for ``owner``), or :class:`InvalidCursorError`."""
    data = cursor_decode(token, purpose=PURPOSE, owner=owner)
    try:
        if "u" in data:  # a cursor issued before walks had snapshots: everything up to it was handed out
            return DeltaPosition(since=_parse(data["u"]))
        since, until = _parse(data.get("s")), _parse(data.get("t"))
        if until is None:
            return DeltaPosition(since=since)
        phase = data.get("p")
        if phase not in (PHASE_ADDED, PHASE_CHANGED):
            raise ValueError(phase)
        after = None
        if data.get("k") is not None:
            stamp, row_id = data["k"]
            after = (_parse(stamp), int(row_id))
        return DeltaPosition(since=since, until=until, phase=phase, after=after)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        raise InvalidCursorError() from None


def delta_cursor_since(*, owner: str, since: dt.datetime) -> str:
    """A cursor whose next walk hands out what changed after ``since`` (webhooks link to it)."""
    return delta_cursor_encode(DeltaPosition(since=since), owner=owner)


def transaction_change_watermark(*, lag: dt.timedelta | None = None) -> dt.datetime:
    """The newest stamp a walk may include now without risking to skip a concurrent commit (see the module)."""
    if lag is None:
        lag = dt.timedelta(seconds=aggregator_settings.DELTA_FEED_SAFETY_LAG_SECONDS)
    watermark = timezone.now() - lag
    if db_connection.vendor == "postgresql":
        with db_connection.cursor() as cursor:
            cursor.execute(
                "SELECT min(xact_start) FROM pg_stat_activity "
                "WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
            )
            oldest = cursor.fetchone()[0]
        if oldest is not None and oldest - lag < watermark:
            watermark = oldest - lag
    return watermark


def _after(stamp_field: str, after: tuple[dt.datetime, int] | None) -> Q:
    if after is None:
        return Q()
    stamp, row_id = after
    return Q(**{f"{stamp_field}__gt": stamp}) | Q(**{stamp_field: stamp, "id__gt": row_id})


def transaction_delta(*, transactions: QuerySet[Transaction], position: DeltaPosition | None, count: int) -> DeltaPage:
    """One page of the feed over ``transactions`` (the caller's visible rows, removed ones included)."""
    position = position or DeltaPosition()
    since = position.since
    if position.until is None:
        until = transaction_change_watermark()
        if since is not None and until < since:
            until = since  # the watermark never moves a cursor backwards
        phase, after = PHASE_ADDED, None
    else:
        until, phase, after = position.until, position.phase, position.after
    page = DeltaPage()
    remaining = count

    if phase == PHASE_ADDED:
        qs = transactions.filter(created_at__lte=until).filter(Q(removed_at__isnull=True) | Q(updated_at__gt=until))
        if since is not None:
            qs = qs.filter(created_at__gt=since)
        rows = list(qs.filter(_after("created_at", after)).order_by("created_at", "id")[: remaining + 1])
        if len(rows) > remaining:
            page.added = rows[:remaining]
            last = page.added[-1]
            page.next_position = DeltaPosition(since, until, PHASE_ADDED, (last.created_at, last.pk))
            page.has_more = True
            return page
        page.added = rows
        remaining -= len(rows)
        phase, after = PHASE_CHANGED, None

    if since is not None:
        qs = transactions.filter(updated_at__gt=since, updated_at__lte=until, created_at__lte=since)
        rows = list(qs.filter(_after("updated_at", after)).order_by("updated_at", "id")[: remaining + 1])
        if len(rows) > remaining:
            rows = rows[:remaining]
            if rows:
                after = (rows[-1].updated_at, rows[-1].pk)
            page.next_position = DeltaPosition(since, until, PHASE_CHANGED, after)
            page.has_more = True
        for row in rows:
            (page.removed if row.removed_at is not None else page.modified).append(row)
    if not page.has_more:
        page.next_position = DeltaPosition(since=until)
    return page
