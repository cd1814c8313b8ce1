"""Lazy, read-only sequences of sandbox transactions, as returned by ``account_transactions`` and
``transaction_changes_since``: objects are built (and memoised by the timeline) only for the rows read."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Any, Protocol, overload

from .records import SandboxTransaction

__all__ = ["BookedRows", "ChainView", "SliceView", "TransactionView"]


class BookedRows(Protocol):
    """Where a :class:`TransactionView` reads its booked rows from (a timeline; ``cols`` is its row snapshot)."""

    def booked_object(self, cols: Any, i: int, /) -> SandboxTransaction: ...


class _LazyView(Sequence[SandboxTransaction]):
    """What both views share: indexing and slicing through ``_item``, and equality with any sequence of the same
    items (``view == list(view)``). Subclasses give ``__len__`` and ``_item``."""

    __slots__ = ()

    def _item(self, i: int) -> SandboxTransaction:
        raise NotImplementedError

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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {len(self)} transactions>"


class TransactionView(_LazyView):
    """A read-only, lazily materialised sequence of transactions: booked rows ``[lo, mid)`` then ``tail``.

    Indexing and slicing build (memoised) ``SandboxTransaction`` objects only for the rows you read, so
    ``len()`` and a page of 500 are cheap even for 100k-row accounts. Compares equal to any sequence with the
    same items (``view == list(view)``).
    """

    __slots__ = ("_cols", "_lo", "_mid", "_tail", "_timeline")

    def __init__(self, timeline: BookedRows, cols: Any, lo: int, mid: int, tail: list[SandboxTransaction]) -> None:
        self._timeline, self._cols, self._lo, self._mid, self._tail = timeline, cols, lo, mid, tail

    def __len__(self) -> int:
        return self._mid - self._lo + len(self._tail)

    def _item(self, i: int) -> SandboxTransaction:
        k = self._lo + i
        if k < self._mid:
            return self._timeline.booked_object(self._cols, k)
        return self._tail[k - self._mid]

    def __iter__(self) -> Iterator[SandboxTransaction]:
        obj, cols = self._timeline.booked_object, self._cols
        for k in range(self._lo, self._mid):
            yield obj(cols, k)
        yield from self._tail


class ChainView(_LazyView):
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

    def __iter__(self) -> Iterator[SandboxTransaction]:
        for part in self._parts:
            yield from part


class SliceView(_LazyView):
    """``base[start:stop]`` without building the items outside what is read (``base[a:b]`` builds a list)."""

    __slots__ = ("_base", "_start", "_stop")

    def __init__(self, base: Sequence[SandboxTransaction], start: int, stop: int) -> None:
        self._base, self._start, self._stop = base, start, max(start, stop)

    def __len__(self) -> int:
        return self._stop - self._start

    def _item(self, i: int) -> SandboxTransaction:
        return self._base[self._start + i]
