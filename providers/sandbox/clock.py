"""The sandbox clock: real UTC time plus an offset persisted in the ``SandboxClock`` row (pk 1).

The model lives here, beside the only code that reads and writes it; ``providers.sandbox.models`` re-exports it
(Django registers it from there) and measures token and code lifetimes on :func:`sandbox_now`. This module
imports nothing from the sandbox, so the models, the bank data front (``bankdata``) and the OAuth servers all
build on it one way.

Every process reads the same row, so ``manage.py sandbox_clock --advance 3d`` moves the web server, the worker
and the tests together. Reads are cached per process for ``SANDBOX_CLOCK_CACHE_SECONDS`` (default 0.5 s)
outside transactions; inside an atomic block (every test using the ``db`` fixture, any request under
``ATOMIC_REQUESTS``) the row is read each time, because a cached value could outlive a rollback. Changes made by
this process are visible to it immediately.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

__all__ = [
    "SandboxClock",
    "clock_advance",
    "clock_offset",
    "clock_reset",
    "clock_set_offset",
    "format_duration",
    "parse_duration",
    "sandbox_now",
]

_CLOCK_PK = 1
_lock = threading.Lock()
_cached: tuple[int, float] | None = None  # (offset seconds, monotonic time read)

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(\d+)\s*([wdhms])")


class SandboxClock(models.Model):
    """A single row: how far the sandbox clock runs ahead of real time (see ``sandbox_clock``)."""

    offset_seconds = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"sandbox clock +{self.offset_seconds}s"


def _cache_seconds() -> float:
    return float(getattr(settings, "SANDBOX_CLOCK_CACHE_SECONDS", 0.5))


def _invalidate() -> None:
    global _cached
    with _lock:
        _cached = None


def clock_offset() -> int:
    """Seconds the sandbox clock runs ahead of real time."""
    global _cached
    use_cache = not connection.in_atomic_block and _cache_seconds() > 0
    if use_cache:
        cached = _cached
        if cached is not None and time.monotonic() - cached[1] < _cache_seconds():
            return cached[0]
    offset = SandboxClock.objects.filter(pk=_CLOCK_PK).values_list("offset_seconds", flat=True).first() or 0
    if use_cache:
        with _lock:
            _cached = (offset, time.monotonic())
    return offset


def sandbox_now() -> datetime:
    """Real UTC now plus the clock offset (timezone-aware)."""
    return timezone.now() + timedelta(seconds=clock_offset())


def clock_advance(seconds: int) -> datetime:
    """Move the clock forward by ``seconds`` (> 0), persist it for every process, and return the new now."""
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise TypeError(f"clock_advance takes whole seconds as int, got {seconds!r}")
    if seconds <= 0:
        raise ValueError(f"the sandbox clock only moves forward (got {seconds} s); use clock_reset() to go back")
    with transaction.atomic():
        SandboxClock.objects.get_or_create(pk=_CLOCK_PK)
        SandboxClock.objects.filter(pk=_CLOCK_PK).update(
            offset_seconds=F("offset_seconds") + seconds, updated_at=timezone.now()
        )
    _invalidate()
    return sandbox_now()


def clock_set_offset(seconds: int) -> None:
    """Set the offset outright (test helpers use it to restore a previous clock)."""
    SandboxClock.objects.update_or_create(pk=_CLOCK_PK, defaults={"offset_seconds": int(seconds)})
    _invalidate()


def clock_reset() -> None:
    """Back to real time (offset 0)."""
    clock_set_offset(0)


def parse_duration(text: str) -> int:
    """``"3d"``, ``"12h"``, ``"90m"``, ``"1d12h"``, ``"2w"``, ``"45s"`` or a bare number of seconds → seconds."""
    raw = text.strip().lower()
    if raw.isdigit():
        return int(raw)
    if not raw or _DURATION.sub("", raw).strip():
        raise ValueError(
            f"invalid duration {text!r}: use a number with a unit, e.g. 3d, 12h, 90m, 45s, 2w or combined like 1d12h"
        )
    return sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(raw))


def format_duration(seconds: int) -> str:
    """``93784`` → ``"1d 2h 3m 4s"`` (``"0s"`` for zero)."""
    sign = "-" if seconds < 0 else ""
    rest = abs(seconds)
    parts = []
    for unit in ("d", "h", "m", "s"):
        n, rest = divmod(rest, _UNITS[unit])
        if n:
            parts.append(f"{n}{unit}")
    return sign + (" ".join(parts) or "0s")
