"""The connect flow: start → bank → callback, through the views (bank mocked with recorded payloads)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone

from aggregator.connections.credentials import credentials_load
from aggregator.connections.models import PendingAuthorization
from aggregator.models import Account, Connection, SyncRun
from tests.factories import AccountFactory, ConnectionFactory, InstitutionFactory, UserFactory
from tests.providers.conftest import _bank_settings, bank_mock, mock_albion, ok, sleeps  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def albion():  # type: ignore[no-untyped-def]
    return InstitutionFactory(slug="albion", provider="obie", country="GB", config={"sandbox_bank": "albion"})


@pytest.fixture
def alice(client):  # type: ignore[no-untyped-def]
    user = UserFactory(username="alice")
    client.force_login(user)
    return user


@pytest.fixture
def routes(bank_mock):  # type: ignore[no-untyped-def]  # noqa: F811
    return mock_albion(bank_mock)


def _start(client, next_url="/me/consents/"):  # type: ignore[no-untyped-def]
    response = client.get(reverse("connections:connect-start", args=["albion"]), {"next": next_url})
    assert response.status_code == 302
    return parse_qs(urlsplit(response["Location"]).query)["state"][0], response


def test_start_redirects_to_the_bank_and_remembers_the_request(client, alice, albion, routes):
    state, response = _start(client)
    assert response["Location"].startswith("https://bank.test/sandbox/albion/oauth/authorize?")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["redirect_uri"] == ["http://testserver/connect/callback/"]
    pending = PendingAuthorization.objects.get(state=state)
    assert (pending.user, pending.next_url) == (alice, "/me/consents/")
    assert "code_verifier" not in pending.payload  # encrypted


def test_start_keeps_only_local_next_urls(client, alice, albion, routes):
    for unsafe in ("https://evil.test/x", "//evil.test/x", "javascript:alert(1)"):
        state, _ = _start(client, unsafe)
        assert PendingAuthorization.objects.get(state=state).next_url == ""


def test_start_needs_a_logged_in_user(client, albion):
    response = client.get(reverse("connections:connect-start", args=["albion"]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_unknown_institution_is_a_clear_404(client, alice):
    response = client.get(reverse("connections:connect-start", args=["atlantis"]))
    assert response.status_code == 404 and b"not available" in response.content


def test_bank_down_at_start_is_a_clear_502(client, alice, albion, routes):
    routes["consent"].mock(return_value=ok("albion", "error_consent_revoked", 500))
    response = client.get(reverse("connections:connect-start", args=["albion"]))
    assert response.status_code == 502 and b"could not be reached" in response.content


def test_callback_connects_stores_encrypted_credentials_lists_accounts_and_queues_a_sync(client, alice, albion, routes):
    state, _ = _start(client, "/me/consents/?tab=banks")
    response = client.get(reverse("connections:connect-callback"), {"state": state, "code": "abc"})

    connection = Connection.objects.get(user=alice, institution=albion)
    assert response.status_code == 302
    assert response["Location"] == f"/me/consents/?tab=banks&connection={connection.public_id}"
    assert connection.status == Connection.Status.ACTIVE
    assert credentials_load(connection=connection).access_token == "at-albion-1"
    assert "at-albion-1" not in connection.encrypted_credentials
    assert connection.upstream_consent_id == "aac-3f1c9b2e-7d4a-4f7e-9a51-0c2d8e6b1f40"
    assert set(connection.accounts.values_list("provider_account_id", flat=True)) == {
        "alb-alice-cur-8f3a",
        "alb-alice-cc-19d2",
    }
    assert SyncRun.objects.filter(connection=connection, trigger="connect", outcome="queued").count() == 1
    token_form = parse_qs(routes["token"].calls.last.request.content.decode())
    assert token_form["redirect_uri"] == ["http://testserver/connect/callback/"]
    assert token_form["code_verifier"][0]


def test_reconnecting_a_reauth_required_connection_reuses_it_without_duplicate_accounts(client, alice, albion, routes):
    existing = ConnectionFactory(user=alice, institution=albion, status=Connection.Status.REAUTH_REQUIRED)
    AccountFactory(connection=existing, provider_account_id="alb-alice-cur-8f3a", currency="GBP")

    state, _ = _start(client)
    client.get(reverse("connections:connect-callback"), {"state": state, "code": "abc"})

    assert list(Connection.objects.filter(user=alice, institution=albion)) == [existing]
    existing.refresh_from_db()
    assert existing.status == Connection.Status.ACTIVE
    assert Account.objects.filter(connection=existing).count() == 2


def test_a_state_is_used_once(client, alice, albion, routes):
    state, _ = _start(client)
    assert client.get(reverse("connections:connect-callback"), {"state": state, "code": "abc"}).status_code == 302
    replay = client.get(reverse("connections:connect-callback"), {"state": state, "code": "abc"})
    assert replay.status_code == 400 and b"already used" in replay.content


def test_another_users_state_is_refused(client, alice, albion, routes):
    state, _ = _start(client)
    client.force_login(UserFactory(username="mallory"))
    response = client.get(reverse("connections:connect-callback"), {"state": state, "code": "abc"})
    assert response.status_code == 400 and not Connection.objects.exists()


def test_an_expired_state_is_refused(client, alice, albion, routes):
    state, _ = _start(client)
    PendingAuthorization.objects.filter(state=state).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("connections:connect-callback"), {"state": state, "code": "abc"})
    assert response.status_code == 400 and b"too long" in response.content


def test_the_user_refusing_at_the_bank_is_a_clear_page(client, alice, albion, routes):
    state, _ = _start(client)
    response = client.get(reverse("connections:connect-callback"), {"state": state, "error": "access_denied"})
    assert response.status_code == 400 and b"did not authorise" in response.content
    assert not Connection.objects.exists()


def test_a_refused_code_is_a_clear_502_and_creates_nothing(client, alice, albion, routes):
    state, _ = _start(client)
    routes["token"].mock(return_value=ok("albion", "error_invalid_grant", 400))
    response = client.get(reverse("connections:connect-callback"), {"state": state, "code": "stale"})
    assert response.status_code == 502 and not Connection.objects.exists()


@pytest.mark.parametrize("params", [{}, {"state": "x" * 500}, {"code": "abc"}, {"state": "nope", "code": "abc"}])
def test_garbage_callbacks_never_500(client, alice, params):
    response = client.get(reverse("connections:connect-callback"), params)
    assert response.status_code == 400 and b"Could not connect" in response.content


def test_a_bank_that_does_not_know_our_client_is_not_called_unreachable(client, alice, albion, routes):
    routes["token"].mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))
    response = client.get(reverse("connections:connect-start", args=["albion"]))
    assert response.status_code == 502
    assert b"bank_client_rejected" in response.content and b"registration" in response.content
    assert b"could not be reached" not in response.content


def test_a_client_rejected_at_the_code_exchange_is_a_client_error_not_a_retry(client, alice, albion, routes):
    state, _ = _start(client)
    routes["token"].mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))
    response = client.get(reverse("connections:connect-callback"), {"state": state, "code": "abc"})
    assert response.status_code == 502 and b"bank_client_rejected" in response.content
    assert not Connection.objects.exists()


@pytest.mark.parametrize(
    ("error", "code"),
    [("invalid_scope", b"bank_client_rejected"), ("server_error", b"bank_unavailable"), ("odd", b"bank_error")],
)
def test_an_error_redirect_from_the_bank_is_named_for_what_it_is(client, alice, albion, routes, error, code):
    state, _ = _start(client)
    response = client.get(reverse("connections:connect-callback"), {"state": state, "error": error})
    assert code in response.content
    assert not Connection.objects.exists()
