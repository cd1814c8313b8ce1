"""Sign-in protection (consent/login_guard.py): backoff per (address, username), a proof-of-work challenge per
address and per username instead of refusing the right password, client addresses behind trusted proxies, and
what it does when the cache is down."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from aggregator.client_address import client_address
from consent import login_guard
from consent.login_guard import LoginChallenge, challenge_issue, challenge_solve, challenge_verify
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_local_counters():  # type: ignore[no-untyped-def]
    login_guard._local.clear()
    yield
    login_guard._local.clear()


@pytest.fixture
def easy_challenge(settings):  # type: ignore[no-untyped-def]
    settings.CONSENT = {**settings.CONSENT, "LOGIN_CHALLENGE_BITS": 8}


def _login(client, username, password, address="192.0.2.10", forwarded=None, **fields):  # type: ignore[no-untyped-def]
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    data = {"username": username, "password": password, **fields}
    return client.post("/accounts/login/", data, REMOTE_ADDR=address, **headers)


def _solved(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """What the browser's login-challenge.js sends: the page's challenge and its solution."""
    challenge = client.get("/accounts/login/").context["login_challenge"]
    return {"challenge": challenge.token, "challenge_solution": challenge_solve(challenge)}


def test_after_too_many_failures_even_the_right_password_is_refused(client, settings):
    settings.CONSENT = {**settings.CONSENT, "LOGIN_MAX_FAILURES": 3}
    UserFactory(username="carol")
    assert [_login(client, "carol", "wrong").status_code for _ in range(3)] == [200, 200, 200]
    response = _login(client, "carol", PASSWORD)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 30


def test_the_lock_holds_only_that_username_at_that_address(client, settings):
    settings.CONSENT = {**settings.CONSENT, "LOGIN_MAX_FAILURES": 3}
    UserFactory(username="carol")
    UserFactory(username="dave")
    for _ in range(3):
        _login(client, "carol", "wrong", address="192.0.2.66")
    assert _login(client, "carol", PASSWORD, address="192.0.2.66").status_code == 429
    # The same person from elsewhere, and someone else behind the attacker's address, sign in as usual.
    assert _login(client, "carol", PASSWORD, address="198.51.100.7").status_code == 302
    assert _login(client, "dave", PASSWORD, address="192.0.2.66").status_code == 302


def test_the_backoff_doubles_with_each_further_failure(client, settings, monkeypatch):
    settings.CONSENT = {**settings.CONSENT, "LOGIN_MAX_FAILURES": 2, "LOGIN_BACKOFF_SECONDS": 30}
    UserFactory(username="carol")
    clock = [1_000_000.0]
    monkeypatch.setattr(login_guard.time, "time", lambda: clock[0])
    retry_afters = []
    for _ in range(4):
        _login(client, "carol", "wrong")
        while (response := _login(client, "carol", "wrong")).status_code != 429:
            pass
        retry_afters.append(int(response["Retry-After"]))
        clock[0] += retry_afters[-1]  # wait the lock out, then fail again
    assert retry_afters[:3] == [30, 60, 120]


def test_the_backoff_never_exceeds_the_lockout_period(client, settings):
    settings.CONSENT = {**settings.CONSENT, "LOGIN_MAX_FAILURES": 1, "LOGIN_BACKOFF_SECONDS": 600}
    UserFactory(username="carol")
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="192.0.2.10")
    seconds = [login_guard.login_failure_record(request=request, username="carol") for _ in range(5)]
    assert seconds == [600, 900, 900, 900, 900]


def test_a_shared_address_under_attack_asks_for_a_challenge_not_a_refusal(client, settings, easy_challenge):
    settings.CONSENT = {**settings.CONSENT, "LOGIN_CHALLENGE_ADDRESS_FAILURES": 6}
    UserFactory(username="carol")
    for n in range(6):  # a guesser spraying usernames from the office's one public address
        _login(client, f"user{n}", "wrong", address="203.0.113.5")
    refused = _login(client, "carol", PASSWORD, address="203.0.113.5")
    assert refused.status_code == 429 and "Retry-After" not in refused
    assert "short check" in refused.content.decode()
    # A colleague's browser solved the page's challenge: the right password is accepted.
    assert _login(client, "carol", PASSWORD, address="203.0.113.5", **_solved(client)).status_code == 302
    # Other addresses need no challenge at all.
    assert _login(client, "carol", PASSWORD, address="198.51.100.7").status_code == 302


def test_a_username_guessed_from_many_addresses_asks_for_a_challenge(client, settings, easy_challenge):
    settings.CONSENT = {**settings.CONSENT, "LOGIN_CHALLENGE_USERNAME_FAILURES": 4}
    UserFactory(username="carol")
    for n in range(4):
        _login(client, "carol", "wrong", address=f"198.51.100.{n}")
    assert _login(client, "carol", PASSWORD, address="192.0.2.99").status_code == 429
    assert _login(client, "carol", PASSWORD, address="192.0.2.99", **_solved(client)).status_code == 302


def test_a_challenge_is_accepted_once(easy_challenge):
    challenge = challenge_issue()
    solution = challenge_solve(challenge)
    assert challenge_verify(token=challenge.token, solution=solution)
    assert not challenge_verify(token=challenge.token, solution=solution)


@pytest.mark.parametrize(
    "token, solution",
    [("", "1"), ("forged", "1"), (None, "not-a-number"), (None, "9" * 21)],
)
def test_a_forged_or_unsolved_challenge_is_refused(easy_challenge, token, solution):
    challenge = challenge_issue()
    assert not challenge_verify(token=challenge.token if token is None else token, solution=solution)


def test_a_wrong_solution_is_refused(settings):
    settings.CONSENT = {**settings.CONSENT, "LOGIN_CHALLENGE_BITS": 12}
    challenge = challenge_issue()
    wrong = next(
        str(n)
        for n in range(10_000)
        if login_guard._leading_zero_bits(login_guard.hashlib.sha256(f"{challenge.token}:{n}".encode()).digest()) < 12
    )
    assert not challenge_verify(token=challenge.token, solution=wrong)


def test_an_expired_challenge_is_refused(easy_challenge, monkeypatch):
    challenge = challenge_issue()
    monkeypatch.setattr(login_guard, "CHALLENGE_MAX_AGE_SECONDS", -1)
    assert not challenge_verify(token=challenge.token, solution=challenge_solve(challenge))


def test_a_challenge_of_fewer_bits_than_issued_is_refused(easy_challenge):
    weak = LoginChallenge(token=challenge_issue().token + "x", bits=0)
    assert not challenge_verify(token=weak.token, solution="0")


def test_the_login_page_carries_a_challenge_and_its_script(client):
    page = client.get("/accounts/login/").content.decode()
    assert 'name="challenge"' in page and "data-challenge-bits" in page and "consent/login-challenge.js" in page


def test_without_trusted_proxies_a_forwarded_header_is_ignored(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert client_address(request) == "192.0.2.1"


@pytest.mark.parametrize(
    "count, header, expected",
    [
        (1, "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the client wrote the left entry itself: ignored
        (2, "198.51.100.1, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (3, "203.0.113.9", "203.0.113.9"),  # fewer hops than proxies: the left-most
        (1, "not-an-address", "192.0.2.1"),
        (1, "[2001:db8::7]:443", "2001:db8::7"),
        (1, "203.0.113.9:51234", "203.0.113.9"),
    ],
)
def test_behind_trusted_proxies_the_client_is_read_from_the_right(settings, count, header, expected):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "TRUSTED_PROXY_COUNT": count}
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=header)
    assert client_address(request) == expected


def test_the_client_address_header_is_configurable(settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "TRUSTED_PROXY_COUNT": 1, "CLIENT_IP_HEADER": "X-Real-IP"}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_REAL_IP="203.0.113.9")
    assert client_address(request) == "203.0.113.9"


def test_behind_a_proxy_the_lock_follows_the_real_client(client, settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "TRUSTED_PROXY_COUNT": 1}
    settings.CONSENT = {**settings.CONSENT, "LOGIN_MAX_FAILURES": 2}
    UserFactory(username="carol")
    for _ in range(2):
        _login(client, "carol", "wrong", address="10.0.0.2", forwarded="203.0.113.66")
    assert _login(client, "carol", PASSWORD, "10.0.0.2", "203.0.113.66").status_code == 429
    assert _login(client, "carol", PASSWORD, "10.0.0.2", "198.51.100.7").status_code == 302


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


def test_fifty_failures_from_one_address_do_not_lock_its_other_users_out(client, settings):
    """Issue 17 defect 5: 50 failures behind one shared address used to refuse every user there for 15 minutes."""
    UserFactory(username="carol")
    for n in range(50):
        _login(client, f"user{n % 7}", "wrong", address="203.0.113.5")
    response = _login(client, "carol", PASSWORD, address="203.0.113.5", **_solved(client))
    assert response.status_code == 302


def test_the_page_says_when_the_challenge_is_required(client, settings):
    settings.CONSENT = {**settings.CONSENT, "LOGIN_CHALLENGE_ADDRESS_FAILURES": 2}
    assert 'data-challenge-required=""' in client.get("/accounts/login/", REMOTE_ADDR="203.0.113.5").content.decode()
    for _ in range(2):
        _login(client, "mallory", "wrong", address="203.0.113.5")
    page = client.get("/accounts/login/", REMOTE_ADDR="203.0.113.5").content.decode()
    assert 'data-challenge-required="1"' in page
