"""The sandbox banks' own OAuth servers: authorize → login → select → code → token → refresh (rotation), PKCE."""

from __future__ import annotations

import json
from io import StringIO
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core.management import call_command
from django.test import Client

from providers.sandbox.bankdata import user_accounts
from providers.sandbox.models import SandboxClient, SandboxConsent, SandboxToken
from providers.sandbox.testing import advance_clock

from .banking import (
    ALBION,
    LIBERTY,
    REDIRECT_URI,
    albion_consent,
    authorize,
    basic,
    connect,
    demo_clients,  # noqa: F401  (fixture)
    exchange,
    pkce_pair,
    refresh,
    rhein_consent,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_clients")]
BANKS = ["albion", "rhein", "liberty"]


@pytest.mark.parametrize("bank", BANKS)
def test_metadata_publishes_the_endpoints_and_capabilities(client, bank):
    body = client.get(f"/sandbox/{bank}/.well-known/oauth-authorization-server").json()
    assert body["issuer"] == f"http://testserver/sandbox/{bank}"
    assert body["authorization_endpoint"] == f"http://testserver/sandbox/{bank}/oauth/authorize"
    assert body["token_endpoint"] == f"http://testserver/sandbox/{bank}/oauth/token"
    assert body["response_types_supported"] == ["code"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert set(body["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert "refresh_token" in body["grant_types_supported"]
    assert ("client_credentials" in body["grant_types_supported"]) == (bank == "albion")
    assert body["pkce_required"] == (bank == "liberty")


@pytest.mark.parametrize("bank", BANKS)
def test_full_flow_issues_tokens_and_refresh_rotates(client, bank):
    tokens = connect(client, bank)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 600
    rotated = refresh(client, bank, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.content
    new = rotated.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    # the old refresh token died when it was used
    again = refresh(client, bank, tokens["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # and the new one works
    assert refresh(client, bank, new["refresh_token"]).status_code == 200


def test_authorization_code_can_be_used_only_once(client):
    verifier, challenge = pkce_pair()
    code = authorize(client, "liberty", challenge=challenge)["code"]
    assert exchange(client, "liberty", code, verifier).status_code == 200
    second = exchange(client, "liberty", code, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"


def test_redirect_carries_code_and_state(client):
    result = authorize(client, "albion", consent_id=albion_consent(client), state="xyz-42")
    assert result["state"] == "xyz-42" and result["code"]


def test_client_secret_post_is_accepted(client):
    result = authorize(client, "rhein", consent_id=rhein_consent(client))
    response = client.post(
        "/sandbox/rhein/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": "aggregator-rhein",
            "client_secret": "rhein-sandbox-secret",
        },
    )
    assert response.status_code == 200, response.content


def test_wrong_client_secret_is_refused(client):
    response = client.post(
        "/sandbox/albion/oauth/token",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION="Basic " + __import__("base64").b64encode(b"aggregator-albion:nope").decode(),
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_clients_are_per_bank(client):
    response = client.post(
        "/sandbox/rhein/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": "x"},
        HTTP_AUTHORIZATION=basic("albion", client_id="aggregator-albion"),
    )
    assert response.status_code == 401  # albion's client does not exist at rhein


def test_client_credentials_only_at_albion(client):
    response = client.post(
        "/sandbox/liberty/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic("liberty")
    )
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_pkce_is_required_at_liberty(client):
    params = {
        "response_type": "code",
        "client_id": "aggregator-liberty",
        "redirect_uri": REDIRECT_URI,
        "state": "s1",
    }
    response = client.get(f"/sandbox/liberty/oauth/authorize?{urlencode(params)}")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["invalid_request"] and query["state"] == ["s1"]


def test_pkce_is_optional_at_albion(client):
    result = authorize(client, "albion", consent_id=albion_consent(client))
    assert exchange(client, "albion", result["code"]).status_code == 200


def test_wrong_code_verifier_is_refused(client):
    _, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    code = authorize(client, "liberty", challenge=challenge)["code"]
    response = exchange(client, "liberty", code, other_verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_loopback_redirect_uri_accepts_any_port(client):
    uri = "http://127.0.0.1:54321/connect/callback/"
    verifier, challenge = pkce_pair()
    result = authorize(client, "liberty", challenge=challenge, redirect_uri=uri)
    assert exchange(client, "liberty", result["code"], verifier, redirect_uri=uri).status_code == 200


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/connect/callback/",
        "http://127.0.0.1:9000/other/path/",
        "http://10.0.0.1:8000/connect/callback/",
    ],
)
def test_unregistered_redirect_uri_is_refused_without_redirecting(client, uri):
    params = {"response_type": "code", "client_id": "aggregator-albion", "redirect_uri": uri, "consent_id": "x"}
    response = client.get(f"/sandbox/albion/oauth/authorize?{urlencode(params)}")
    assert response.status_code == 400
    assert b"Invalid authorization request" in response.content


def test_authorize_requires_a_known_awaiting_consent(client):
    params = {"response_type": "code", "client_id": "aggregator-albion", "redirect_uri": REDIRECT_URI, "state": "q"}
    response = client.get(f"/sandbox/albion/oauth/authorize?{urlencode(params)}")
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["invalid_request"]
    response = client.get(f"/sandbox/albion/oauth/authorize?{urlencode({**params, 'consent_id': 'nope'})}")
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["invalid_request"]


def test_login_page_is_a_real_form_listing_test_credentials(client):
    params = {"response_type": "code", "client_id": "aggregator-albion", "redirect_uri": REDIRECT_URI}
    params["consent_id"] = albion_consent(client)
    login_url = client.get(f"/sandbox/albion/oauth/authorize?{urlencode(params)}")["Location"]
    page = client.get(login_url).content.decode()
    assert 'name="username"' in page and 'name="password"' in page
    assert "sandbox" in page and "alice" in page and "locked" in page
    assert client.get(login_url)["X-Frame-Options"] == "DENY"


def _login(client, bank="albion", username="alice", password="sandbox"):  # type: ignore[no-untyped-def]
    params = {"response_type": "code", "client_id": f"aggregator-{bank}", "redirect_uri": REDIRECT_URI}
    if bank == "albion":
        params["consent_id"] = albion_consent(client)
    login_url = client.get(f"/sandbox/{bank}/oauth/authorize?{urlencode(params)}")["Location"]
    return client.post(login_url, {"username": username, "password": password})


def test_locked_user_cannot_log_in(client):
    response = _login(client, username="locked")
    assert response.status_code == 403
    assert b"locked" in response.content


def test_wrong_password_is_refused(client):
    response = _login(client, password="wrong")
    assert response.status_code == 401 and b"wrong password" in response.content


def test_selection_page_ticks_every_account(client):
    response = _login(client, username="bob")
    page = client.get(response["Location"]).content.decode()
    accounts = user_accounts("albion", "bob")
    assert page.count('name="accounts"') == len(accounts) == page.count(" checked")
    for account in accounts:
        assert f'value="{account.id}"' in page
    assert 'value="approve"' in page and 'value="deny"' in page


def test_only_ticked_accounts_are_granted(client):
    accounts = [a.id for a in user_accounts("albion", "bob")]
    consent_id = albion_consent(client)
    authorize(client, "albion", consent_id=consent_id, username="bob", accounts=accounts[:1])
    consent = SandboxConsent.objects.get(pk=consent_id)
    assert consent.status == "Authorised" and consent.account_ids == accounts[:1] and consent.username == "bob"


@pytest.mark.parametrize(("bank", "status"), [("albion", "Rejected"), ("rhein", "rejected"), ("liberty", "rejected")])
def test_deny_rejects_the_consent_and_returns_access_denied(client, bank, status):
    consent_id = {"albion": albion_consent, "rhein": rhein_consent}.get(bank, lambda c: "")(client)
    _, challenge = pkce_pair()
    result = authorize(client, bank, consent_id=consent_id, challenge=challenge, action="deny")
    assert result["error"] == "access_denied" and result["state"] == "st-123" and "code" not in result
    consent = SandboxConsent.objects.filter(bank=bank).latest("created_at")
    assert consent.status == status


def test_flow_works_with_csrf_checks_enforced():
    strict = Client(enforce_csrf_checks=True)
    consent_id = albion_consent(strict)
    params = {"response_type": "code", "client_id": "aggregator-albion", "redirect_uri": REDIRECT_URI}
    login_url = strict.get(f"/sandbox/albion/oauth/authorize?{urlencode({**params, 'consent_id': consent_id})}")[
        "Location"
    ]
    page = strict.get(login_url)
    token = page.context["csrf_token"]
    assert f'name="csrfmiddlewaretoken" value="{token}"' in page.content.decode()
    assert strict.post(login_url, {"username": "alice", "password": "sandbox"}).status_code == 403  # no token
    select_url = strict.post(login_url, {"username": "alice", "password": "sandbox", "csrfmiddlewaretoken": token})[
        "Location"
    ]
    page = strict.get(select_url)
    response = strict.post(
        select_url,
        {
            "accounts": [a.id for a in user_accounts("albion", "alice")],
            "action": "approve",
            "csrfmiddlewaretoken": page.context["csrf_token"],
        },
    )
    assert response.status_code == 302 and "code=" in response["Location"]


def test_access_tokens_expire_on_the_sandbox_clock_and_refresh_restores_access(client):
    tokens = connect(client, "liberty")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    assert client.get(f"{LIBERTY}/accounts", **auth).status_code == 200
    advance_clock(minutes=11)
    assert client.get(f"{LIBERTY}/accounts", **auth).status_code == 401
    new = refresh(client, "liberty", tokens["refresh_token"]).json()
    assert client.get(f"{LIBERTY}/accounts", HTTP_AUTHORIZATION=f"Bearer {new['access_token']}").status_code == 200


def test_expired_user_gets_short_tokens_and_refresh_is_refused(client):
    tokens = connect(client, "albion", username="expired")
    assert tokens["expires_in"] == 120
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    assert client.get(f"{ALBION}/accounts", **auth).status_code == 200
    advance_clock(minutes=3)
    assert client.get(f"{ALBION}/accounts", **auth).status_code == 401
    response = refresh(client, "albion", tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_refresh_is_refused_once_the_consent_is_revoked(client):
    tokens = connect(client, "albion")
    cc = client.post(
        "/sandbox/albion/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic("albion")
    ).json()["access_token"]
    client.delete(f"{ALBION}/account-access-consents/{tokens['consent_id']}", HTTP_AUTHORIZATION=f"Bearer {cc}")
    assert refresh(client, "albion", tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_tokens_are_stored_per_bank(client):
    connect(client, "rhein")
    token = SandboxToken.objects.get(bank="rhein", refresh_token__isnull=False)
    assert token.username == "alice" and token.consent.bank == "rhein"


def test_sandbox_clients_prints_the_demo_clients_as_json():
    out = StringIO()
    call_command("sandbox_clients", stdout=out)
    rows = json.loads(out.getvalue())
    assert {r["bank"] for r in rows} == {"albion", "rhein", "liberty"}
    albion = next(r for r in rows if r["bank"] == "albion")
    assert albion == {
        "bank": "albion",
        "client_id": "aggregator-albion",
        "client_secret": "albion-sandbox-secret",
        "redirect_uris": [
            "http://127.0.0.1:8000/connect/callback/",
            "http://localhost:8000/connect/callback/",
            "http://127.0.0.1:8000/payments/callback/",
            "http://localhost:8000/payments/callback/",
        ],
    }


def test_sandbox_bootstrap_is_idempotent():
    call_command("sandbox_bootstrap", stdout=StringIO())
    call_command("sandbox_bootstrap", stdout=StringIO())
    assert SandboxClient.objects.count() == 3


def test_index_page_lists_banks_users_and_clients(client):
    page = client.get("/sandbox/").content.decode()
    for text in ("albion", "rhein", "liberty", "aggregator-rhein", "liberty-sandbox-secret", "bulk", "flaky"):
        assert text in page
