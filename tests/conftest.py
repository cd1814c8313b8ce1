"""Shared pytest fixtures. Factories live in ``tests/factories.py``."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(settings):  # type: ignore[no-untyped-def]
    """Each test starts with an empty cache (throttles, rate limits)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def unreachable_cache(settings):  # type: ignore[no-untyped-def]
    """The default cache on a Redis that is not there (nothing listens on port 1): a cache outage."""
    previous = settings.CACHES
    backend = "django.core.cache.backends.redis.RedisCache"
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "redis://127.0.0.1:1/7"}}
    yield
    settings.CACHES = previous  # before the shared fixture's cache.clear()


@pytest.fixture
def published_events():  # type: ignore[no-untyped-def]
    """Every domain event published while the test runs (``aggregator.domain_events``), in order."""
    from aggregator.domain_events import subscribe, unsubscribe

    events: list = []
    subscribe(events.append, dispatch_uid="tests.published_events")
    yield events
    unsubscribe("tests.published_events")
