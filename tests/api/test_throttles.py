"""Throttles: fixed windows in the cache, per TPP and per consent, on Redis in one round trip."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def _rates(settings, tpp="1000/min", consent="1000/min"):  # type: ignore[no-untyped-def]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"tpp": tpp, "consent": consent, "consent_refresh": "3/hour"},
    }


def test_the_tpp_limit_spans_its_consents(settings, alice, shared_account, consent):
    from rest_framework.test import APIClient

    from .factories import AccessTokenFactory, AuthorisedConsentFactory

    _rates(settings, tpp="3/min")
    other = AuthorisedConsentFactory(application=consent.application, user=alice, accounts=[shared_account])
    clients = []
    for c in (consent, other):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessTokenFactory(consent=c).token}")
        clients.append(client)
    statuses = [clients[i % 2].get("/api/v1/accounts").status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_throttles_count_in_redis(settings, api):
    import redis

    url = "redis://127.0.0.1:6379/13"
    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("needs a local Redis on 127.0.0.1:6379")
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": "t"}
    }
    from django.core.cache import cache

    cache.clear()
    _rates(settings, consent="2/min")
    try:
        assert [api.get("/api/v1/accounts").status_code for _ in range(3)] == [200, 200, 429]
        keys = redis.Redis.from_url(url).keys("t:*api-throttle:consent:*")
        assert len(keys) == 1 and 0 < redis.Redis.from_url(url).ttl(keys[0]) <= 61
    finally:
        cache.clear()
