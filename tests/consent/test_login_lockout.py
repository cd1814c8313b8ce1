"""The login lockout: failures counted per (address, username), and what it does when the cache is down."""

from __future__ import annotations

import pytest

from consent import account_views
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_local_counters():  # type: ignore[no-untyped-def]
    account_views._local_failures.clear()
    yield
    account_views._local_failures.clear()


def _login(client, username, password):  # type: ignore[no-untyped-def]
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_after_too_many_failures_even_the_right_password_is_refused(client, settings):
    settings.CONSENT = {**settings.CONSENT, "LOGIN_MAX_FAILURES": 3}
    UserFactory(username="carol")
    assert [_login(client, "carol", "wrong").status_code for _ in range(3)] == [200, 200, 200]
    assert _login(client, "carol", PASSWORD).status_code == 429


def test_a_cache_outage_does_not_stop_people_signing_in(client, unreachable_cache, caplog):
    UserFactory(username="carol")
    response = _login(client, "carol", PASSWORD)
    assert response.status_code == 302
    assert "login lockout: cache unavailable" in caplog.text


def test_a_cache_outage_still_locks_out_a_guesser_in_this_process(client, settings, unreachable_cache):
    settings.CONSENT = {**settings.CONSENT, "LOGIN_MAX_FAILURES": 3}
    UserFactory(username="carol")
    assert [_login(client, "carol", "wrong").status_code for _ in range(3)] == [200, 200, 200]
    assert _login(client, "carol", PASSWORD).status_code == 429
