"""The FAPI 2.0 flow end to end: PAR with private_key_jwt → consent screen → code (PKCE S256) → DPoP-bound tokens →
data API with proofs → refresh with a proof."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from consent.models import AccessToken, Consent, PushedAuthorizationRequest, RefreshToken
from tests.consent import flow
from tests.fapi.conftest import approve

pytestmark = pytest.mark.django_db


def test_a_fapi2_tpp_goes_from_par_to_dpop_bound_data_and_refresh(wsgi, tpp, alice_accounts):
    consent = tpp.create_consent()
    client_credentials = AccessToken.objects.get(application__client_id=tpp.client_id, consent__isnull=True)
    thumbprint = tpp.dpop_key.thumbprint()
    assert client_credentials.jkt == thumbprint

    request_uri, params = approve(wsgi, tpp, consent["id"])
    assert request_uri.startswith("urn:ietf:params:oauth:request_uri:")
    assert params["state"] == tpp.pending["state"] and params["iss"] == "http://testserver"
    assert not PushedAuthorizationRequest.objects.exists()  # used once

    tokens = tpp.exchange(params)
    assert tokens["token_type"] == "DPoP"
    access = AccessToken.objects.get(consent_id=consent["id"])
    assert access.jkt == thumbprint and RefreshToken.objects.get(consent_id=consent["id"]).jkt == thumbprint

    accounts = tpp.api("GET", "/api/v1/accounts")
    assert accounts.status_code == 200, accounts.text
    assert {a["id"] for a in accounts.json()["data"]} == {str(a.public_id) for a in alice_accounts}
    balances = tpp.api("GET", f"/api/v1/accounts/{alice_accounts[0].public_id}/balances")
    assert balances.status_code == 200

    old_access = tokens["access_token"]
    refreshed = tpp.refresh()
    assert refreshed["token_type"] == "DPoP" and refreshed["access_token"] != old_access
    live = RefreshToken.objects.get(consent_id=consent["id"], revoked__isnull=True)
    assert live.jkt == thumbprint
    assert tpp.api("GET", "/api/v1/consents/current").json()["data"]["id"] == consent["id"]
    assert Consent.objects.get(pk=consent["id"]).status == "authorised"


def test_the_pushed_request_survives_login_and_reloads_in_the_same_browser(wsgi, tpp, alice_accounts):
    consent = tpp.create_consent()
    request_uri = tpp.push_authorization_request(consent["id"])
    browser = wsgi()
    url = tpp.authorization_url(request_uri)
    first = browser.get(url[len("http://testserver") :])
    assert first.status_code == 302 and "/accounts/login/" in first.headers["location"]
    assert "request_uri" in first.headers["location"] and "code_challenge" not in first.headers["location"]
    screen = flow.login(browser, "alice", "alice-demo", url[len("http://testserver") :])
    assert screen.status_code == 200 and "Fapi Finance" in screen.text
    assert "code_challenge" not in screen.text  # the form names the push only
    again = browser.get(url[len("http://testserver") :])
    assert again.status_code == 200
    params = flow.callback_params(flow.submit_consent(browser, again, "approve"))
    assert tpp.exchange(params)["token_type"] == "DPoP"


def test_a_baseline_client_may_push_with_its_secret_and_still_use_bearer_tokens(wsgi, alice_accounts):
    tpp = flow.create_tpp("http://testserver", name="Plain")
    http = wsgi()
    token = http.post(
        "/oauth/token/", data={"grant_type": "client_credentials", "scope": "consents"},
        auth=(tpp.client_id, tpp.client_secret),
    ).json()  # fmt: skip
    assert token["token_type"] == "Bearer"
    created = http.post(
        "/api/v1/consents",
        json={"permissions": ["accounts"], "expires_at": (timezone.now() + dt.timedelta(days=5)).isoformat()},
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert created.status_code == 201, created.text
    pushed = http.post(
        "/oauth/par/",
        data={"response_type": "code", "client_id": tpp.client_id, "redirect_uri": tpp.redirect_uri,
              "scope": "accounts", "code_challenge": "a" * 43, "code_challenge_method": "S256",
              "consent_id": created.json()["data"]["id"]},
        auth=(tpp.client_id, tpp.client_secret),
    )  # fmt: skip
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["expires_in"] == 60 and pushed.headers["cache-control"] == "no-store"


def test_the_periodic_cleanup_removes_pushed_requests_nobody_can_use(tpp, alice_accounts):
    from consent.services import oauth_clear_expired

    consent = tpp.create_consent()
    tpp.push_authorization_request(consent["id"])
    tpp.push_authorization_request(consent["id"])
    old, fresh = PushedAuthorizationRequest.objects.order_by("id")
    PushedAuthorizationRequest.objects.filter(pk=old.pk).update(expires_at=timezone.now() - dt.timedelta(hours=1))
    oauth_clear_expired()
    assert list(PushedAuthorizationRequest.objects.values_list("pk", flat=True)) == [fresh.pk]
