"""Throttles of the data API: per third-party app, per consent, and consent refreshes.

A fixed-window counter in the cache (atomic ``INCR`` on Redis, which production uses through ``CACHE_URL``):
O(1) per request whatever the rate, where DRF's ``SimpleRateThrottle`` would read and rewrite a list of every
request time in the window. :class:`DataAPIThrottle` counts the per-TPP and the per-consent window in one Redis
round trip (a pipeline of ``INCR`` + ``EXPIRE … NX``); other cache backends fall back to ``cache.incr``.
A client can burst up to twice the rate across a window boundary; the limits are sized for that. Rates come
from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``tpp``, ``consent``, ``consent_refresh``); a refused request
gets ``429`` with ``Retry-After``.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

__all__ = ["ConsentRateThrottle", "ConsentRefreshThrottle", "DataAPIThrottle", "TPPRateThrottle", "parse_rate"]

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/min"`` → ``(600, 60)``; ``"3/hour"`` → ``(3, 3600)``."""
    num, period = rate.split("/")
    return int(num), _PERIODS[period.strip()[0]]


def _redis_client(backend: Any) -> Any:
    """The Redis client of the cache backend, made once per backend instance: Django's ``RedisCacheClient``
    builds a new client object (about as costly as the round trip itself) on every call. The client shares the
    backend's connection pool, which reconnects by itself in a forked worker."""
    client = getattr(backend, "_api_throttle_client", None)
    if client is None:
        client = backend._api_throttle_client = backend._cache.get_client(write=True)
    return client


def _incr_many(keys: list[tuple[str, int]]) -> list[int]:
    """Increment each ``(key, ttl)`` counter, creating it with its ttl; one round trip on Redis."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    backend = caches["default"]
    if isinstance(backend, RedisCache):
        # Our keys are short, printable and space-free: no need for the memcached key validation.
        pipe = _redis_client(backend).pipeline(transaction=False)
        for key, ttl in keys:
            made = backend.make_key(key)
            pipe.incr(made)
            pipe.expire(made, ttl, nx=True)
        return [int(v) for v in pipe.execute()[::2]]
    counts = []
    for key, ttl in keys:
        try:
            counts.append(cache.incr(key))
        except ValueError:
            counts.append(1 if cache.add(key, 1, timeout=ttl) else cache.incr(key))
    return counts


class _WindowThrottle(BaseThrottle):
    scope = ""

    def __init__(self) -> None:
        self._wait: float | None = None

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
        key = f"api-throttle:{self.scope}:{ident}:{window}"
        try:
            count = cache.incr(key)
        except ValueError:
            count = 1 if cache.add(key, 1, timeout=duration + 1) else cache.incr(key)
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


class ConsentRateThrottle(_WindowThrottle):
    """All requests made under one consent."""

    scope = "consent"

    def ident(self, request: Any) -> str | None:
        consent_id = getattr(request.auth, "consent_id", None)
        return None if consent_id is None else str(consent_id)


class ConsentRefreshThrottle(ConsentRateThrottle):
    """``POST /consents/{id}/refresh``: a few per consent per hour."""

    scope = "consent_refresh"


class DataAPIThrottle(BaseThrottle):
    """The ``tpp`` and ``consent`` limits together, in one cache round trip (the data endpoints' throttle)."""

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
                window = int(now // duration)
                checks.append((f"api-throttle:{scope}:{ident}:{window}", duration, limit, window))
        if not checks:
            return True
        counts = _incr_many([(key, duration + 1) for key, duration, _, _ in checks])
        waits = [
            (window + 1) * duration - now
            for (_, duration, limit, window), count in zip(checks, counts, strict=True)
            if count > limit
        ]
        if waits:
            self._wait = max(waits)
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
