"""An account's generated history and what of it is visible at a given moment.

A :class:`Timeline` holds every generated row of an account up to a horizon month, sorted, with the
timestamps in a parallel list (for ``bisect``) and prefix sums of booked amounts (for balances), so that each
query is ``O(log n)`` plus the size of the answer. Timelines are cached per account in the process and extended
month by month as the sandbox clock moves; ``SandboxTransaction`` objects are built lazily (and memoised) when a
caller actually reads a row, so a 100k-row account costs a few hundred milliseconds once and microseconds after.

Visibility at ``now``: a booked row is shown once ``booked_ts <= now``; a pending row while
``authorised_ts <= now < ends_ts``; nothing is shown before it is authorised.
"""

from __future__ import annotations

import gc
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import accumulate
from typing import Any, overload

from ..bankdata import SandboxBalance, SandboxTransaction
from .catalog import AccountPlan
from .generator import MAX_PENDING_SECONDS, BookedRow, PendingRow, generate_month, month_index

__all__ = ["ChainView", "Timeline", "TransactionView", "timeline_for", "to_timestamp"]

_CACHE_SIZE = 48
_cache: OrderedDict[str, Timeline] = OrderedDict()
_cache_lock = threading.Lock()


def to_timestamp(moment: datetime) -> float:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"sandbox datetimes must be timezone-aware, got naive {moment!r}")
    return moment.timestamp()


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


class Timeline:
    """All rows of one account up to ``horizon`` (a month index), ready for bisecting."""

    def __init__(self, plan: AccountPlan) -> None:
        self.plan = plan
        self.horizon = -1
        self.month_end_balances: list[int] = []
        self.booked: list[BookedRow] = []
        self.booked_ts: list[int] = []
        self.cumulative: list[int] = [0]  # cumulative[k] = sum of the first k booked amounts
        self.pending: list[PendingRow] = []
        self.pending_ts: list[int] = []
        self.objects: dict[str, SandboxTransaction] = {}
        self._lock = threading.Lock()

    # --- building ---------------------------------------------------------------------------------------------
    def ensure(self, ts: float) -> Timeline:
        """Generate months up to the one containing ``ts`` (a no-op when already there)."""
        target = month_index(ts)
        if target > self.horizon:
            with self._lock:
                if target > self.horizon:
                    # the rows are acyclic tuples: pausing the cyclic GC saves ~20-40 % on 100k-row accounts
                    enabled = gc.isenabled()
                    gc.disable()
                    try:
                        self._extend(target)
                    finally:
                        if enabled:
                            gc.enable()
        return self

    def _extend(self, target: int) -> None:
        balance = self.month_end_balances[-1] if self.month_end_balances else self.plan.opening_cents
        new_booked: list[BookedRow] = []
        new_pending: list[PendingRow] = []
        balances = list(self.month_end_balances)
        for m in range(self.horizon + 1, target + 1):
            booked, pending, balance = generate_month(self.plan, m, balance)
            new_booked += booked
            new_pending += pending
            balances.append(balance)
        # card payments of one month post in the next, so merge by sorting (Timsort: near-linear on sorted runs)
        booked_rows = self.booked + new_booked
        booked_rows.sort()
        pending_rows = self.pending + new_pending
        pending_rows.sort()
        booked_ts = [r[0] for r in booked_rows]
        cumulative = [0, *accumulate(r[2] for r in booked_rows)]
        pending_ts = [r[0] for r in pending_rows]
        # publish: every list is replaced, never mutated, so concurrent readers keep a consistent snapshot
        self.booked, self.booked_ts, self.cumulative = booked_rows, booked_ts, cumulative
        self.pending, self.pending_ts = pending_rows, pending_ts
        self.month_end_balances = balances
        self.horizon = target

    # --- objects ----------------------------------------------------------------------------------------------
    def booked_object(self, row: BookedRow) -> SandboxTransaction:
        obj = self.objects.get(row[1])
        if obj is None:
            ts, tx_id, cents, value_date, tpl, pending_id = row
            obj = self.objects[tx_id] = SandboxTransaction(
                id=tx_id,
                account_id=self.plan.account.id,
                status="booked",
                booked_at=datetime.fromtimestamp(ts, UTC),
                value_date=date.fromordinal(value_date),
                amount=_money(cents),
                currency=self.plan.account.currency,
                description=tpl[0],
                merchant_name=tpl[1],
                category=tpl[2],
                counterparty_name=tpl[3],
                bank_transaction_code=tpl[4],
                pending_transaction_id=pending_id,
            )
        return obj

    def pending_object(self, row: PendingRow) -> SandboxTransaction:
        obj = self.objects.get(row[2])
        if obj is None:
            ts, _ends, tx_id, cents, value_date, tpl = row
            obj = self.objects[tx_id] = SandboxTransaction(
                id=tx_id,
                account_id=self.plan.account.id,
                status="pending",
                booked_at=datetime.fromtimestamp(ts, UTC),
                value_date=date.fromordinal(value_date),
                amount=_money(cents),
                currency=self.plan.account.currency,
                description=tpl[0],
                merchant_name=tpl[1],
                category=tpl[2],
                counterparty_name=tpl[3],
                bank_transaction_code=tpl[4],
            )
        return obj

    # --- queries ----------------------------------------------------------------------------------------------
    def _pending_window(self, lo_exclusive: float, hi_inclusive: float) -> list[PendingRow]:
        """Pending rows authorised in ``(lo_exclusive, hi_inclusive]``."""
        a = bisect_right(self.pending_ts, lo_exclusive)
        b = bisect_right(self.pending_ts, hi_inclusive, a)
        return self.pending[a:b]

    def pending_at(self, now: float) -> list[PendingRow]:
        """Pending rows visible at ``now`` (authorised, neither posted nor cancelled yet), oldest first."""
        return [r for r in self._pending_window(now - MAX_PENDING_SECONDS, now) if now < r[1]]

    def view(self, lo: int, hi: int, pending: list[PendingRow]) -> TransactionView:
        """Booked rows ``[lo, hi)`` merged with ``pending`` rows by (time, id)."""
        if not pending:
            return TransactionView(self, self.booked, lo, hi, [])
        mid = bisect_left(self.booked_ts, pending[0][0], lo, hi)
        merged = [((r[0], r[1]), self.booked_object(r)) for r in self.booked[mid:hi]]
        merged += [((r[0], r[2]), self.pending_object(r)) for r in pending]
        merged.sort(key=lambda item: item[0])
        return TransactionView(self, self.booked, lo, mid, [obj for _key, obj in merged])

    def visible(
        self, now: float, start: float | None = None, end: float | None = None, *, status: str | None = None
    ) -> TransactionView:
        pending: list[PendingRow] = []
        if status != "booked":
            pending = [
                r for r in self.pending_at(now) if (start is None or r[0] >= start) and (end is None or r[0] <= end)
            ]
        if status == "pending":
            return TransactionView(self, self.booked, 0, 0, [self.pending_object(r) for r in pending])
        k = bisect_right(self.booked_ts, now)
        lo = 0 if start is None else bisect_left(self.booked_ts, start, 0, k)
        hi = k if end is None else bisect_right(self.booked_ts, end, lo, k)
        return self.view(lo, hi, pending)

    def balances(self, now: float, as_of: datetime) -> list[SandboxBalance]:
        account = self.plan.account
        booked = self.plan.opening_cents + self.cumulative[bisect_right(self.booked_ts, now)]
        expected = booked + sum(r[3] for r in self.pending_at(now))
        result = [SandboxBalance(account.id, "booked", _money(booked), account.currency, as_of)]
        if account.type == "credit_card":
            result.append(
                SandboxBalance(
                    account.id,
                    "available",
                    _money(expected + self.plan.limit_cents),
                    account.currency,
                    as_of,
                    credit_line_included=True,
                )
            )
        else:
            result.append(SandboxBalance(account.id, "available", _money(expected), account.currency, as_of))
        result.append(SandboxBalance(account.id, "expected", _money(expected), account.currency, as_of))
        return result

    def changes(self, since: float, now: float) -> tuple[TransactionView, list[str]]:
        """(added, removed ids) between ``since`` (exclusive) and ``now`` (inclusive)."""
        lo = bisect_right(self.booked_ts, since)
        hi = bisect_right(self.booked_ts, now, lo)
        new_pending = [r for r in self._pending_window(max(since, now - MAX_PENDING_SECONDS), now) if now < r[1]]
        removed = [r[2] for r in self._pending_window(since - MAX_PENDING_SECONDS, since) if since < r[1] <= now]
        return self.view(lo, hi, new_pending), removed


class TransactionView(Sequence[SandboxTransaction]):
    """A read-only, lazily materialised sequence of transactions: booked rows ``[lo, mid)`` then ``tail``.

    Indexing and slicing build (memoised) ``SandboxTransaction`` objects only for the rows you read, so
    ``len()`` and a page of 500 are cheap even for 100k-row accounts. Compares equal to any sequence with the
    same items (``view == list(view)``).
    """

    __slots__ = ("_lo", "_mid", "_rows", "_tail", "_timeline")

    def __init__(
        self, timeline: Timeline, rows: list[BookedRow], lo: int, mid: int, tail: list[SandboxTransaction]
    ) -> None:
        self._timeline, self._rows, self._lo, self._mid, self._tail = timeline, rows, lo, mid, tail

    def __len__(self) -> int:
        return self._mid - self._lo + len(self._tail)

    def _item(self, i: int) -> SandboxTransaction:
        k = self._lo + i
        if k < self._mid:
            return self._timeline.booked_object(self._rows[k])
        return self._tail[k - self._mid]

    @overload
    def __getitem__(self, index: int) -> SandboxTransaction: ...
    @overload
    def __getitem__(self, index: slice) -> list[SandboxTransaction]: ...
    def __getitem__(self, index: int | slice) -> SandboxTransaction | list[SandboxTransaction]:
        n = len(self)
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(n))]
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("transaction index out of range")
        return self._item(index)

    def __iter__(self) -> Iterator[SandboxTransaction]:
        obj = self._timeline.booked_object
        for row in self._rows[self._lo : self._mid]:
            yield obj(row)
        yield from self._tail

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<TransactionView of {len(self)} transactions>"


class ChainView(Sequence[SandboxTransaction]):
    """Several sequences read as one (the accounts of a user, one after the other)."""

    __slots__ = ("_ends", "_parts")

    def __init__(self, parts: Sequence[Sequence[SandboxTransaction]]) -> None:
        self._parts = [p for p in parts if len(p)]
        self._ends = list(accumulate(len(p) for p in self._parts))

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def _item(self, i: int) -> SandboxTransaction:
        part = bisect_right(self._ends, i)
        return self._parts[part][i - (self._ends[part - 1] if part else 0)]

    def __getitem__(self, index: Any) -> Any:
        n = len(self)
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(n))]
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("transaction index out of range")
        return self._item(index)

    def __iter__(self) -> Iterator[SandboxTransaction]:
        for part in self._parts:
            yield from part

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<ChainView of {len(self)} transactions>"


def timeline_for(plan: AccountPlan, now: float) -> Timeline:
    """The cached timeline of ``plan``'s account, generated at least up to ``now`` (LRU over accounts)."""
    key = plan.account.id
    with _cache_lock:
        timeline = _cache.get(key)
        if timeline is None or timeline.plan != plan:
            timeline = _cache[key] = Timeline(plan)
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return timeline.ensure(now)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
