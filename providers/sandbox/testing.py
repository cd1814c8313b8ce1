"""Helpers for tests that need the sandbox clock to move (use with pytest-django's ``db`` fixture).

from providers.sandbox.testing import advance_clock, reset_clock

now = advance_clock(days=3).now          # the clock stays moved (the test's rollback undoes it)
with advance_clock(hours=12) as now:     # ... or only inside the block: the old offset comes back after
    ...
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType

from .clock import clock_advance, clock_offset, clock_reset, clock_set_offset

__all__ = ["ClockShift", "advance_clock", "reset_clock"]


class ClockShift:
    """The result of :func:`advance_clock`: ``.now`` is the new sandbox time; as a context manager it restores
    the previous offset on exit."""

    def __init__(self, previous_offset: int, now: datetime) -> None:
        self.previous_offset = previous_offset
        self.now = now

    def __enter__(self) -> datetime:
        return self.now

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        clock_set_offset(self.previous_offset)

    def __repr__(self) -> str:
        return f"<ClockShift now={self.now.isoformat()}>"


def advance_clock(*, days: int = 0, hours: int = 0, minutes: int = 0, seconds: int = 0) -> ClockShift:
    """Move the sandbox clock forward now (persisted); see the module docstring."""
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    previous = clock_offset()
    return ClockShift(previous, clock_advance(total))


def reset_clock() -> None:
    """Back to real time."""
    clock_reset()
