"""Throttles: fixed windows in the cache, per TPP and per consent, on Redis in one round trip."""

from __future__ import annotations

import os
import uuid

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


# A Redis database the throttle tests may write to (TEST_REDIS_CACHE_URL to choose another one).
REDIS_URL = os.environ.get("TEST_REDIS_CACHE_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def redis_cache(settings):  # type: ignore[no-untyped-def]
    """The default cache on Redis under a key prefix of this test's own (tests in parallel share the database);
    yields ``(redis client, key prefix)``. Only this test's keys are removed afterwards, never the database."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("needs a local Redis on 127.0.0.1:6379")
    prefix = f"t-{uuid.uuid4().hex}"
    previous = settings.CACHES
    backend = "django.core.cache.backends.redis.RedisCache"
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": REDIS_URL, "KEY_PREFIX": prefix}}
    yield client, prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    settings.CACHES = previous  # before the shared fixture's cache.clear(), which would empty the whole database


def test_throttles_count_in_redis(settings, api, redis_cache):
    client, prefix = redis_cache
    _rates(settings, consent="2/min")
    assert [api.get("/api/v1/accounts").status_code for _ in range(3)] == [200, 200, 429]
    keys = client.keys(f"{prefix}:*api-throttle:consent:*")
    assert len(keys) == 1 and 0 < client.ttl(keys[0]) <= 61


def test_reservations_on_redis_never_let_more_than_the_limit_through(settings, monkeypatch, redis_cache):
    from aggregator.api import throttles

    _rates(settings, tpp="100000/min", consent="500/min")  # reservations of 5
    workers: list[dict] = [{}, {}, {}]
    allowed = 0
    for i in range(600):
        monkeypatch.setattr(throttles, "_reserved", workers[i % 3])
        allowed += _allowed(1)
    assert 500 - 3 * 5 <= allowed <= 500
    client, prefix = redis_cache
    (key,) = client.keys(f"{prefix}:*api-throttle:consent:*")
    assert int(client.get(key)) >= 500 and 0 < client.ttl(key) <= 61


class _Auth:
    def __init__(self, application_id, consent_id):  # type: ignore[no-untyped-def]
        self.application_id, self.consent_id = application_id, consent_id


class _Request:
    def __init__(self, application_id=1, consent_id="c-1"):  # type: ignore[no-untyped-def]
        self.auth = _Auth(application_id, consent_id)


def _allowed(n, request=None):  # type: ignore[no-untyped-def]
    from aggregator.api.throttles import DataAPIThrottle

    request = request or _Request()
    return sum(DataAPIThrottle().allow_request(request, None) for _ in range(n))


def test_a_worker_reserves_a_few_requests_at_a_time(settings, monkeypatch):
    from aggregator.api import throttles

    _rates(settings, tpp="100000/min", consent="1000/min")
    calls = []
    real = throttles._incr_many
    monkeypatch.setattr(throttles, "_incr_many", lambda keys: calls.append(keys) or real(keys))
    assert _allowed(30) == 30
    # The consent limit reserves 10 (1%) at requests 1, 11 and 21, the TPP limit 25 (the cap) at 1 and 26: four
    # round trips for 30 requests, the first one for both.
    assert [[amount for _, amount, _ in keys] for keys in calls] == [[25, 10], [10], [10], [25]]


def test_workers_together_never_let_more_than_the_limit_through(settings, monkeypatch):
    from aggregator.api import throttles

    _rates(settings, tpp="100000/min", consent="500/min")  # reservations of 5
    workers: list[dict] = [{}, {}, {}]
    allowed = 0
    for i in range(600):
        monkeypatch.setattr(throttles, "_reserved", workers[i % 3])
        allowed += _allowed(1)
    assert 500 - 3 * 5 <= allowed <= 500


def test_small_limits_are_counted_exactly_and_refusals_say_how_long_to_wait(settings):
    from aggregator.api.throttles import DataAPIThrottle

    _rates(settings, tpp="100000/min", consent="150/min")
    assert _allowed(150) == 150
    throttle = DataAPIThrottle()
    assert throttle.allow_request(_Request(), None) is False
    assert 0 < throttle.wait() <= 60
    assert _allowed(1, _Request(consent_id="c-2")) == 1  # another consent has its own window


def test_reservations_of_ended_windows_are_dropped(settings, monkeypatch):
    from aggregator.api import throttles

    _rates(settings, tpp="100000/min", consent="1000/min")
    monkeypatch.setattr(throttles, "_RESERVED_PRUNE_AT", 3)
    for i in range(5):
        throttles._reserved[f"api-throttle:consent:old-{i}:60"] = [7, 60.0]  # a window that ended in 1970
    assert _allowed(1) == 1
    assert not any(":old-" in key for key in throttles._reserved)
    assert len(throttles._reserved) == 2  # this request's TPP and consent windows


def test_a_cache_outage_lets_data_requests_through_with_a_warning(settings, api, unreachable_cache, caplog):
    _rates(settings, consent="2/min")
    assert [api.get("/api/v1/accounts").status_code for _ in range(3)] == [200, 200, 200]
    assert "cache unavailable, request let through" in caplog.text


def test_a_cache_outage_lets_the_window_throttles_through(settings, rf, unreachable_cache, caplog):
    from types import SimpleNamespace

    from aggregator.api.throttles import ConsentRefreshThrottle, TPPRateThrottle

    request = rf.post("/")
    request.auth = SimpleNamespace(application_id=1, consent_id=uuid.uuid4())
    assert TPPRateThrottle().allow_request(request, None) is True
    assert ConsentRefreshThrottle().allow_request(request, None) is True
    assert "throttle consent_refresh: cache unavailable" in caplog.text


def test_the_current_consent_endpoint_is_throttled_like_the_data_api(settings, api):
    _rates(settings, consent="2/min")
    statuses = [api.get("/api/v1/consents/current").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
