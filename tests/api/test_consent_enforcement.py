"""Every endpoint enforces the consent: token → authorised, unexpired consent → permission → object in consent."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from consent.models import AccessLogEntry, Consent
from tests.factories import SyncRunFactory, TransactionFactory

from .factories import AccessTokenFactory, AuthorisedConsentFactory

pytestmark = pytest.mark.django_db


ACCOUNT_ENDPOINTS = [
    ("accounts", "/api/v1/accounts/{id}"),
    ("balances", "/api/v1/accounts/{id}/balances"),
    ("transactions", "/api/v1/accounts/{id}/transactions"),
]


def _client(token):  # type: ignore[no-untyped-def]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    return client


def _assert_error(response, status, code=None):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"errors", "request_id"}
    assert body["request_id"] == response["X-Request-ID"]
    if code:
        assert body["errors"][0]["code"] == code


def test_account_list_shows_only_the_consented_accounts(api, shared_account, unshared_account, bob_account):
    response = api.get("/api/v1/accounts")
    assert response.status_code == 200
    body = response.json()
    assert [a["id"] for a in body["data"]] == [str(shared_account.public_id)]
    assert body["links"]["self"].endswith("/api/v1/accounts")
    assert body["links"]["next"] is None
    assert body["meta"]["count"] == 1


@pytest.mark.parametrize(("permission", "template"), ACCOUNT_ENDPOINTS)
def test_the_shared_account_is_readable(api, shared_account, permission, template):
    response = api.get(template.format(id=shared_account.public_id))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(("permission", "template"), ACCOUNT_ENDPOINTS)
def test_an_account_of_the_same_user_outside_the_consent_is_404(api, unshared_account, permission, template):
    _assert_error(api.get(template.format(id=unshared_account.public_id)), 404, "not_found")


@pytest.mark.parametrize(("permission", "template"), ACCOUNT_ENDPOINTS)
def test_another_users_account_is_404(api, bob_account, permission, template):
    _assert_error(api.get(template.format(id=bob_account.public_id)), 404, "not_found")


@pytest.mark.parametrize(("permission", "template"), ACCOUNT_ENDPOINTS)
def test_an_unknown_or_malformed_account_id_is_404(api, permission, template):
    _assert_error(api.get(template.format(id=uuid.uuid4())), 404)
    _assert_error(api.get(template.format(id="42")), 404)


def test_another_users_account_even_if_put_in_the_consent_is_404(alice, shared_account, bob_account):
    consent = AuthorisedConsentFactory(user=alice, accounts=[shared_account, bob_account])
    client = _client(AccessTokenFactory(consent=consent))
    assert [a["id"] for a in client.get("/api/v1/accounts").json()["data"]] == [str(shared_account.public_id)]
    _assert_error(client.get(f"/api/v1/accounts/{bob_account.public_id}"), 404)


@pytest.mark.parametrize(("permission", "template"), ACCOUNT_ENDPOINTS)
def test_a_missing_permission_is_403(alice, shared_account, permission, template):
    others = [p for p in ("accounts", "balances", "transactions") if p != permission]
    consent = AuthorisedConsentFactory(user=alice, accounts=[shared_account], permissions=others)
    client = _client(AccessTokenFactory(consent=consent))
    _assert_error(client.get(template.format(id=shared_account.public_id)), 403, "permission_missing")


@pytest.mark.parametrize(("permission", "template"), ACCOUNT_ENDPOINTS)
def test_a_token_scope_narrower_than_the_consent_is_403(consent, shared_account, permission, template):
    scopes = " ".join(p for p in consent.permissions if p != permission)
    client = _client(AccessTokenFactory(consent=consent, scope=scopes))
    _assert_error(client.get(template.format(id=shared_account.public_id)), 403, "permission_missing")


def test_the_delta_feed_needs_the_transactions_permission(alice, shared_account):
    consent = AuthorisedConsentFactory(user=alice, accounts=[shared_account], permissions=["accounts"])
    _assert_error(_client(AccessTokenFactory(consent=consent)).get("/api/v1/transactions/sync"), 403)


def test_transactions_outside_the_consent_range_are_invisible(api, consent, shared_account):
    inside = TransactionFactory(account=shared_account, booking_date=dt.date(2026, 3, 1))
    TransactionFactory(account=shared_account, booking_date=dt.date(2025, 12, 31))
    TransactionFactory(account=shared_account, booking_date=dt.date(2026, 7, 1))
    body = api.get(f"/api/v1/accounts/{shared_account.public_id}/transactions").json()
    assert [t["id"] for t in body["data"]] == [str(inside.public_id)]
    assert body["meta"]["transactions_from"] == "2026-01-01"
    assert body["meta"]["transactions_to"] == "2026-06-30"
    # Asking for a wider range does not widen the consent's.
    wide = api.get(f"/api/v1/accounts/{shared_account.public_id}/transactions?booked_from=2020-01-01").json()
    assert [t["id"] for t in wide["data"]] == [str(inside.public_id)]
    feed = api.get("/api/v1/transactions/sync").json()["data"]
    assert [t["id"] for t in feed["added"]] == [str(inside.public_id)]


@pytest.mark.parametrize("ending", ["revoked", "expired"])
def test_a_consent_ended_mid_session_refuses_the_next_request(api, consent, shared_account, ending):
    url = f"/api/v1/accounts/{shared_account.public_id}/transactions"
    assert api.get(url).status_code == 200
    if ending == "revoked":
        Consent.objects.filter(pk=consent.pk).update(status=Consent.Status.REVOKED)
    else:
        Consent.objects.filter(pk=consent.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    _assert_error(api.get(url), 401, f"consent_{ending}")
    _assert_error(api.get("/api/v1/transactions/sync"), 401)


def test_no_token_and_a_bad_token_are_401(shared_account):
    _assert_error(APIClient().get("/api/v1/accounts"), 401)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    _assert_error(client.get("/api/v1/accounts"), 401)


def test_a_client_credentials_token_cannot_read_data(consent):
    token = AccessTokenFactory(consent=None, user=None, application=consent.application, scope="consents")
    _assert_error(_client(token).get("/api/v1/accounts"), 403, "consent_required")


def test_syncs_of_connections_outside_the_consent_are_404(api, shared_account, bob_account):
    mine = SyncRunFactory(connection=shared_account.connection)
    theirs = SyncRunFactory(connection=bob_account.connection)
    assert api.get(f"/api/v1/syncs/{mine.public_id}").json()["data"]["id"] == str(mine.public_id)
    _assert_error(api.get(f"/api/v1/syncs/{theirs.public_id}"), 404)


def test_refreshing_another_consent_is_404(api, alice, shared_account):
    other = AuthorisedConsentFactory(user=alice, accounts=[shared_account])
    _assert_error(api.post(f"/api/v1/consents/{other.pk}/refresh"), 404)


def test_every_data_request_is_access_logged_and_touches_last_access(api, consent, shared_account, unshared_account):
    api.get("/api/v1/accounts")
    api.get(f"/api/v1/accounts/{unshared_account.public_id}")
    entries = list(AccessLogEntry.objects.filter(consent=consent).order_by("id"))
    assert [(e.method, e.endpoint, e.status_code) for e in entries] == [
        ("GET", "/api/v1/accounts", 200),
        ("GET", f"/api/v1/accounts/{unshared_account.public_id}", 404),
    ]
    assert entries[0].request_id
    consent.refresh_from_db()
    assert consent.last_accessed_at == entries[1].at


def test_a_path_with_control_characters_is_logged_safely(api, consent):
    response = api.get("/api/v1/accounts/%00%0a%b1/balances")
    assert response.status_code == 404
    entry = AccessLogEntry.objects.get(consent=consent)
    assert "\x00" not in entry.endpoint and "\n" not in entry.endpoint
