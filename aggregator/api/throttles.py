"""Throttles of the data API: per third-party app, per consent, and consent refreshes.

A fixed-window counter in the cache through Django's public cache API (``cache.incr``, atomic ``INCRBY`` on
Redis, which production uses through ``CACHE_URL``; ``cache.add`` starts a window): O(1) per request whatever
the rate, where DRF's ``SimpleRateThrottle`` would read and rewrite a list of every request time in the window. A
client can burst up to twice the rate across a window boundary; the limits are sized for that. Rates come from
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``tpp``, ``consent``, ``consent_refresh``, ``consents``,
``ledger``); a refused request gets ``429`` with ``Retry-After``.

:class:`DataAPIThrottle` (every data request) does not go to the cache on every request: each worker process
*reserves* a few requests of a window at a time — ``cache.incr(key, n)`` on the shared counter, at most 1% of the
limit and never more than :data:`RESERVE_MAX` — and hands them out locally, so the cache's round trips (two per
counter on Redis: ``EXISTS`` + ``INCRBY``) are paid once every ``n`` requests. The shared counter therefore never lets
more than the limit through across all workers; what a worker reserved but did not use before its window ended
is lost, so near the limit a client may be refused up to ``workers * n`` requests early (at most 1% of the limit
per worker). Limits under 200 a window reserve one request at a time: they are counted exactly.

**When the cache is down the throttles fail open**: a request whose counter cannot be read or written is let
through and a warning is logged (``aggregator.api.throttles``), never a 500. The limits protect capacity, not
data; refusing every TPP while Redis restarts would turn a cache outage into a full API outage. ``/healthz``
reports the cache, so the outage is visible (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

__all__ = [
    "RESERVE_MAX",
    "ConsentManagementThrottle",
    "ConsentRateThrottle",
    "ConsentRefreshThrottle",
    "DataAPIThrottle",
    "PublicRateThrottle",
    "TPPRateThrottle",
    "parse_rate",
]

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/min"`` → ``(600, 60)``; ``"3/hour"`` → ``(3, 3600)``."""
    num, period = rate.split("/")
    return int(num), _PERIODS[period.strip()[0]]


def _incr(key: str, amount: int, ttl: int) -> int:
    """Add ``amount`` to the counter ``key``, creating it with ``ttl`` seconds to live; returns the new count.

    ``cache.incr`` is atomic (``INCRBY`` on Redis) but refuses a missing key; ``cache.add`` creates one only if
    it is still missing, so two workers starting the same window both count. A counter lives one second longer
    than its window and is only incremented during it, so it never expires between the two calls."""
    try:
        return cache.incr(key, amount)
    except ValueError:
        return amount if cache.add(key, amount, timeout=ttl) else cache.incr(key, amount)


def _incr_many(keys: list[tuple[str, int, int]]) -> list[int]:
    """Add ``amount`` to each ``(key, amount, ttl)`` counter, creating it with its ttl."""
    return [_incr(key, amount, ttl) for key, amount, ttl in keys]


def _cache_failed(scope: str, exc: Exception) -> None:
    """Fail open: the throttle lets the request through and says so in the log."""
    logger.warning("throttle %s: cache unavailable, request let through (%s: %s)", scope, type(exc).__name__, exc)


class _WindowThrottle(BaseThrottle):
    scope = ""

    def __init__(self) -> None:
        self._wait: float | None = None
        self._key: str | None = None  # the counter the last allowed request was counted in

    def ident(self, request: Any) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Any, view: Any) -> bool:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        ident = self.ident(request)
        if not rate or ident is None:
            return True
        limit, duration = parse_rate(rate)
        now = time.time()
        window = int(now // duration)
        key = self._key = f"api-throttle:{self.scope}:{ident}:{window}"
        try:
            count = _incr(key, 1, duration + 1)
        except Exception as exc:  # the cache backend's own errors (redis ConnectionError, TimeoutError, …)
            _cache_failed(self.scope, exc)
            self._key = None  # nothing was counted, so nothing to refund
            return True
        if count > limit:
            self._wait = (window + 1) * duration - now
            return False
        return True

    def wait(self) -> float | None:
        return self._wait


class TPPRateThrottle(_WindowThrottle):
    """All requests of one third-party app, across its consents."""

    scope = "tpp"

    def ident(self, request: Any) -> str | None:
        app_id = getattr(request.auth, "application_id", None)
        return None if app_id is None else str(app_id)


class PublicRateThrottle(_WindowThrottle):
    """Public endpoints that need no authentication (the ledger's): the ``ledger`` rate per client IP address."""

    scope = "ledger"

    def ident(self, request: Any) -> str | None:
        return self.get_ident(request)


class ConsentManagementThrottle(TPPRateThrottle):
    """``POST/GET /consents`` and ``GET/DELETE /consents/{id}``: the ``consents`` rate per third-party app."""

    scope = "consents"


class ConsentRateThrottle(_WindowThrottle):
    """All requests made under one consent."""

    scope = "consent"

    def ident(self, request: Any) -> str | None:
        consent_id = getattr(request.auth, "consent_id", None)
        return None if consent_id is None else str(consent_id)


class ConsentRefreshThrottle(ConsentRateThrottle):
    """``POST /consents/{id}/refresh``: a few *accepted* refreshes per consent per hour.

    Not one of the view's ``throttle_classes`` (DRF runs those before the method, the consent id and the body are
    checked, so a ``GET``, an unknown consent or a ``415`` used to spend the allowance and answer ``429``): the view
    asks :meth:`allow_request` once the request is valid, and gives the count back with :meth:`refund` when the
    refresh is refused after all (no active connection, the bank's own limit)."""

    scope = "consent_refresh"

    def refund(self) -> None:
        """Take back the request :meth:`allow_request` counted (it was not accepted)."""
        if self._key is None:
            return
        # Best effort: a counter that expired with its window, or a cache outage, leaves the count as it is (the
        # refusal the client gets is the service's, never a cache error).
        with contextlib.suppress(Exception):
            cache.decr(self._key)
        self._key = None


# A worker reserves at most 1% of a limit at a time, and never more than this many requests.
RESERVE_MAX = 25

# This process's reservations: counter key (scope, ident, window) → [requests left, end of the window].
_reserved: dict[str, list[float]] = {}
_reserved_lock = threading.Lock()
_RESERVED_PRUNE_AT = 10_000
os.register_at_fork(after_in_child=_reserved.clear)  # a forked worker must not spend its parent's reservations


def _reserve_size(limit: int) -> int:
    return max(1, min(limit // 100, RESERVE_MAX))


class DataAPIThrottle(BaseThrottle):
    """The ``tpp`` and ``consent`` limits of the data endpoints, served from this worker's reservations and
    topped up in one cache round trip when one runs out (see the module docstring)."""

    scopes = (("tpp", "application_id"), ("consent", "consent_id"))

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        now = time.time()
        checks = []
        for scope, attr in self.scopes:
            rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
            ident = getattr(request.auth, attr, None)
            if rate and ident is not None:
                limit, duration = parse_rate(rate)
                window_end = (int(now // duration) + 1) * duration
                checks.append((f"api-throttle:{scope}:{ident}:{window_end}", limit, duration, window_end))
        if not checks:
            return True
        with _reserved_lock:
            short = [c for c in checks if c[0] not in _reserved or _reserved[c[0]][0] <= 0]
        if short:
            sizes = [_reserve_size(limit) for _, limit, _, _ in short]
            try:
                totals = _incr_many(
                    [(key, n, duration + 1) for (key, _, duration, _), n in zip(short, sizes, strict=True)]
                )
            except Exception as exc:  # the cache backend's own errors (redis ConnectionError, TimeoutError, …)
                _cache_failed("data", exc)
                return True
            with _reserved_lock:
                if len(_reserved) > _RESERVED_PRUNE_AT:
                    for key in [k for k, (_, end) in _reserved.items() if end <= now]:
                        del _reserved[key]
                    if len(_reserved) > _RESERVED_PRUNE_AT:  # that many live windows: start over (refuse early)
                        _reserved.clear()
                for (key, limit, _, window_end), n, total in zip(short, sizes, totals, strict=True):
                    granted = max(0, min(n, limit - (total - n)))  # what is left of the limit, up to n
                    entry = _reserved.setdefault(key, [0, window_end])
                    entry[0] += granted
        waits = []
        with _reserved_lock:
            for key, _, _, window_end in checks:
                entry = _reserved.get(key)
                if entry is not None and entry[0] > 0:
                    entry[0] -= 1
                else:
                    waits.append(window_end - now)
        if waits:
            self._wait = max(waits)
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
