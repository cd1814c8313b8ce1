from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _security_settings(settings):  # type: ignore[no-untyped-def]
    settings.AGGREGATOR = {**settings.AGGREGATOR, "ACCESS_LOG_FLUSH_SECONDS": 0, "DELTA_FEED_SAFETY_LAG_SECONDS": 0}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from django.core.cache import cache

    from aggregator.api import selectors, throttles

    cache.clear()  # throttle counters of earlier tests
    selectors._ACCOUNT_KEYS.clear()
    throttles._reserved.clear()


@pytest.fixture
def no_broker(monkeypatch):  # type: ignore[no-untyped-def]
    """Refreshes queue their task into nothing (the matrices are about who may ask, not about the worker)."""
    monkeypatch.setattr("aggregator.sync.services.enqueue_connection_sync", lambda **kwargs: None)
