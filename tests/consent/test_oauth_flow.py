"""The consent flow end to end against a live server, with authlib as the TPP and httpx as the user's browser."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from consent.models import AccessToken, Consent, Grant, RefreshToken
from tests.consent import flow

pytestmark = pytest.mark.django_db(transaction=True)


def _approved(live_server, alice_accounts, *, accounts=None):  # type: ignore[no-untyped-def]
    tpp = flow.create_tpp(live_server.url)
    consent = tpp.create_consent()
    url, state, verifier = tpp.authorize_url(consent["id"])
    http = flow.browser(live_server.url)
    screen = flow.open_consent_screen(http, url, "alice", "alice-demo")
    assert screen.status_code == 200, screen.text[:500]
    response = flow.submit_consent(http, screen, "approve", accounts)
    params = flow.callback_params(response)
    return tpp, consent, params, state, verifier, response.headers["location"], http


def test_tpp_goes_from_nothing_to_a_consent_bound_token_and_loses_it_on_revoke(live_server, alice_accounts):
    tpp = flow.create_tpp(live_server.url)
    created = tpp.create_consent()
    assert created["status"] == "awaiting_authorisation"

    url, state, verifier = tpp.authorize_url(created["id"])
    http = flow.browser(live_server.url)
    screen = flow.open_consent_screen(http, url, "alice", "alice-demo")
    assert screen.status_code == 200
    assert "Budget Buddy" in screen.text and "payments in and out" in screen.text
    assert screen.headers["x-frame-options"] == "DENY"
    everyday = str(alice_accounts[0].public_id)
    response = flow.submit_consent(http, screen, "approve", [everyday])
    params = flow.callback_params(response)
    assert params["state"] == state and "code" in params

    consent = Consent.objects.get(pk=created["id"])
    assert consent.status == "authorised"
    assert [a.public_id for a in consent.accounts.all()] == [alice_accounts[0].public_id]

    token = tpp.exchange(response.headers["location"], verifier)
    assert set(token["scope"].split()) == {"accounts", "balances", "transactions"}
    assert AccessToken.objects.get(consent=consent).user.username == "alice"
    assert Grant.objects.filter(consent=consent).count() == 0  # the code is single-use

    user_client = tpp.client(token=token)
    current = user_client.get(live_server.url + "/api/v1/consents/current")
    assert current.status_code == 200 and current.json()["data"]["id"] == created["id"]
    assert current.json()["data"]["accounts"] == [everyday]

    refreshed = user_client.refresh_token(tpp.token_url, refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]
    assert AccessToken.objects.filter(consent=consent).count() >= 1
    assert RefreshToken.objects.filter(consent=consent, revoked__isnull=True).count() == 1

    mgmt = tpp.management_client()
    assert mgmt.get(live_server.url + f"/api/v1/consents/{created['id']}").json()["data"]["status"] == "authorised"
    assert mgmt.delete(live_server.url + f"/api/v1/consents/{created['id']}").status_code == 204

    after = tpp.client(token=refreshed).get(live_server.url + "/api/v1/consents/current")
    assert after.status_code == 401
    assert "consent_revoked" in after.text
    consent.refresh_from_db()
    assert consent.status == "revoked"
    assert [e.to_status for e in consent.events.all()] == ["awaiting_authorisation", "authorised", "revoked"]


# --- negative matrix -------------------------------------------------------------------------------------


def test_another_clients_consent_id_shows_an_error_page(live_server, alice_accounts):
    owner = flow.create_tpp(live_server.url, name="Owner")
    intruder = flow.create_tpp(live_server.url, name="Intruder")
    consent = owner.create_consent()
    url, _, _ = intruder.authorize_url(consent["id"])
    page = flow.open_consent_screen(flow.browser(live_server.url), url, "alice", "alice-demo")
    assert page.status_code == 404
    assert "not requested by this app" in page.text
    assert Consent.objects.get(pk=consent["id"]).status == "awaiting_authorisation"


def test_a_consent_already_used_cannot_be_approved_again(live_server, alice_accounts):
    tpp, consent, *_rest = _approved(live_server, alice_accounts)
    url, _, _ = tpp.authorize_url(consent["id"])
    page = flow.open_consent_screen(flow.browser(live_server.url), url, "alice", "alice-demo")
    assert page.status_code == 409
    assert "can no longer be approved" in page.text


def test_missing_consent_id_is_a_clear_error(live_server, alice_accounts):
    tpp = flow.create_tpp(live_server.url)
    url, _, _ = tpp.authorize_url("")
    page = flow.open_consent_screen(flow.browser(live_server.url), url, "alice", "alice-demo")
    assert page.status_code == 400 and "consent_id is missing" in page.text


def test_pkce_missing_is_refused(live_server, alice_accounts):
    tpp = flow.create_tpp(live_server.url)
    consent = tpp.create_consent()
    client = tpp.client(scope="accounts")
    url, _ = client.create_authorization_url(live_server.url + "/oauth/authorize/", consent_id=consent["id"])
    response = flow.open_consent_screen(flow.browser(live_server.url), url, "alice", "alice-demo")
    params = flow.callback_params(response)
    assert params["error"] == "invalid_request"


def test_pkce_plain_is_refused(live_server, alice_accounts):
    tpp = flow.create_tpp(live_server.url)
    consent = tpp.create_consent()
    client = tpp.client(scope="accounts")
    # authlib only speaks S256, so the plain challenge is added by hand.
    url, _ = client.create_authorization_url(
        live_server.url + "/oauth/authorize/",
        consent_id=consent["id"],
        code_challenge="v" * 50,
        code_challenge_method="plain",
    )
    response = flow.open_consent_screen(flow.browser(live_server.url), url, "alice", "alice-demo")
    params = flow.callback_params(response)
    assert params["error"] == "invalid_request"
    assert "S256" in params["error_description"]


def test_wrong_pkce_verifier_is_refused(live_server, alice_accounts):
    tpp, consent, _params, _state, _verifier, location, _ = _approved(live_server, alice_accounts)
    from authlib.integrations.base_client.errors import OAuthError

    with pytest.raises(OAuthError) as excinfo:
        tpp.exchange(location, "x" * 50)
    assert excinfo.value.error == "invalid_grant"
    assert not AccessToken.objects.filter(consent_id=consent["id"]).exists()


def test_redirect_uri_mismatch_is_an_error_page_not_a_redirect(live_server, alice_accounts):
    tpp = flow.create_tpp(live_server.url)
    consent = tpp.create_consent()
    client = tpp.client(scope="accounts", code_challenge_method="S256", redirect_uri="http://evil.example/cb")
    url, _ = client.create_authorization_url(
        live_server.url + "/oauth/authorize/", code_verifier="v" * 50, consent_id=consent["id"]
    )
    page = flow.open_consent_screen(flow.browser(live_server.url), url, "alice", "alice-demo")
    assert page.status_code == 400
    assert "evil.example" not in page.headers.get("location", "")
    assert "Mismatching redirect URI" in page.text or "redirect" in page.text.lower()


def test_redirect_uri_mismatch_at_token_exchange_is_refused(live_server, alice_accounts):
    from authlib.integrations.base_client.errors import OAuthError

    tpp, _consent, _params, _state, verifier, location, _ = _approved(live_server, alice_accounts)
    client = tpp.client(redirect_uri="http://tpp.example/other")
    with pytest.raises(OAuthError):
        client.fetch_token(tpp.token_url, authorization_response=location, code_verifier=verifier)


def test_authorization_code_replay_is_refused(live_server, alice_accounts):
    from authlib.integrations.base_client.errors import OAuthError

    tpp, _consent, _params, _state, verifier, location, _ = _approved(live_server, alice_accounts)
    tpp.exchange(location, verifier)
    with pytest.raises(OAuthError) as excinfo:
        tpp.exchange(location, verifier)
    assert excinfo.value.error == "invalid_grant"


def test_refresh_token_replay_revokes_the_whole_family(live_server, alice_accounts):
    from authlib.integrations.base_client.errors import OAuthError

    tpp, consent, _params, _state, verifier, location, _ = _approved(live_server, alice_accounts)
    first = tpp.exchange(location, verifier)
    second = tpp.client().refresh_token(tpp.token_url, refresh_token=first["refresh_token"])
    with pytest.raises(OAuthError):
        tpp.client().refresh_token(tpp.token_url, refresh_token=first["refresh_token"])  # replay
    # The family is revoked: the legitimately rotated token no longer works either.
    with pytest.raises(OAuthError):
        tpp.client().refresh_token(tpp.token_url, refresh_token=second["refresh_token"])
    assert not RefreshToken.objects.filter(consent_id=consent["id"], revoked__isnull=True).exists()


def test_expired_consent_rejects_the_token_on_the_next_request(live_server, alice_accounts):
    tpp, consent, _params, _state, verifier, location, _ = _approved(live_server, alice_accounts)
    token = tpp.exchange(location, verifier)
    Consent.objects.filter(pk=consent["id"]).update(expires_at="2020-01-01T00:00:00Z")
    response = tpp.client(token=token).get(live_server.url + "/api/v1/consents/current")
    assert response.status_code == 401 and "consent_expired" in response.text
    stored = Consent.objects.get(pk=consent["id"])
    assert stored.status == "expired"
    assert stored.events.last().actor_type == "system"


def test_expired_consent_cannot_refresh(live_server, alice_accounts):
    from authlib.integrations.base_client.errors import OAuthError

    tpp, consent, _params, _state, verifier, location, _ = _approved(live_server, alice_accounts)
    token = tpp.exchange(location, verifier)
    Consent.objects.filter(pk=consent["id"]).update(expires_at="2020-01-01T00:00:00Z")
    with pytest.raises(OAuthError):
        tpp.client().refresh_token(tpp.token_url, refresh_token=token["refresh_token"])


def test_revoked_consent_rejects_the_token_on_the_next_request(live_server, alice_accounts):
    from consent.services import consent_revoke

    tpp, consent, _params, _state, verifier, location, _ = _approved(live_server, alice_accounts)
    token = tpp.exchange(location, verifier)
    user_client = tpp.client(token=token)
    assert user_client.get(live_server.url + "/api/v1/consents/current").status_code == 200
    consent_revoke(consent=Consent.objects.get(pk=consent["id"]), actor_type="user", reason="test")
    response = user_client.get(live_server.url + "/api/v1/consents/current")
    assert response.status_code == 401 and "consent_revoked" in response.text


def test_scope_beyond_the_consent_is_refused(live_server, alice_accounts):
    tpp = flow.create_tpp(live_server.url)
    consent = tpp.create_consent(permissions=["accounts"])
    url, _, _ = tpp.authorize_url(consent["id"], scope="accounts transactions")
    response = flow.open_consent_screen(flow.browser(live_server.url), url, "alice", "alice-demo")
    assert flow.callback_params(response)["error"] == "invalid_scope"


def test_consents_scope_is_not_available_to_users_tokens(live_server, alice_accounts):
    tpp = flow.create_tpp(live_server.url)
    consent = tpp.create_consent()
    url, _, _ = tpp.authorize_url(consent["id"], scope="consents accounts")
    response = flow.open_consent_screen(flow.browser(live_server.url), url, "alice", "alice-demo")
    assert flow.callback_params(response)["error"] == "invalid_scope"


def test_denied_consent_redirects_with_access_denied(live_server, alice_accounts):
    tpp = flow.create_tpp(live_server.url)
    consent = tpp.create_consent()
    url, state, _ = tpp.authorize_url(consent["id"])
    http = flow.browser(live_server.url)
    screen = flow.open_consent_screen(http, url, "alice", "alice-demo")
    params = flow.callback_params(flow.submit_consent(http, screen, "deny"))
    assert params["error"] == "access_denied" and params["state"] == state
    stored = Consent.objects.get(pk=consent["id"])
    assert stored.status == "rejected"
    assert stored.events.last().actor_user.username == "alice"


def test_accounts_of_another_user_are_refused_server_side(live_server, alice_accounts):
    from tests.factories import AccountFactory

    bobs = AccountFactory()
    tpp = flow.create_tpp(live_server.url)
    consent = tpp.create_consent()
    url, _, _ = tpp.authorize_url(consent["id"])
    http = flow.browser(live_server.url)
    screen = flow.open_consent_screen(http, url, "alice", "alice-demo")
    response = flow.submit_consent(http, screen, "approve", [str(alice_accounts[0].public_id), str(bobs.public_id)])
    assert response.status_code == 400 and "not available" in response.text
    assert Consent.objects.get(pk=consent["id"]).status == "awaiting_authorisation"


def test_approval_prompt_auto_never_skips_the_consent_screen(live_server, alice_accounts):
    tpp, _consent, *_rest, http = _approved(live_server, alice_accounts)
    second = tpp.create_consent()
    url, _, _ = tpp.authorize_url(second["id"], approval_prompt="auto")
    page = http.get(url[len(live_server.url) :])
    assert page.status_code == 200 and 'id="consent-form"' in page.text


def test_consent_form_requires_csrf(live_server, alice_accounts):
    tpp = flow.create_tpp(live_server.url)
    consent = tpp.create_consent()
    url, _, _ = tpp.authorize_url(consent["id"])
    http = flow.browser(live_server.url)
    screen = flow.open_consent_screen(http, url, "alice", "alice-demo")
    data = dict(flow.HIDDEN_RE.findall(screen.text))
    data.pop("csrfmiddlewaretoken", None)
    response = http.post("/oauth/authorize/", data={**data, "decision": "approve"})
    assert response.status_code == 403
    assert Consent.objects.get(pk=consent["id"]).status == "awaiting_authorisation"


def test_user_connects_a_sandbox_bank_from_the_consent_screen_and_shares_its_accounts(
    live_server, alice, sandbox_banks
):
    from aggregator.models import Account

    tpp = flow.create_tpp(live_server.url)
    created = tpp.create_consent(permissions=["accounts", "balances"])
    url, _, verifier = tpp.authorize_url(created["id"], scope="accounts balances")
    http = flow.browser(live_server.url)
    screen = flow.open_consent_screen(http, url, "alice", "alice-demo")
    assert 'id="no-accounts"' in screen.text

    back = flow.connect_sandbox_bank(http, screen, "albion")
    assert back.status_code == 200, back.text[:500]
    assert "connection=" in str(back.url)
    ticked = re.findall(r'name="accounts" value="([^"]+)" checked', back.text)
    assert ticked, "the new connection's accounts are pre-selected"

    response = flow.submit_consent(http, back, "approve", ticked[:1])
    token = tpp.exchange(response.headers["location"], verifier)
    consent = Consent.objects.get(pk=created["id"])
    assert consent.status == "authorised"
    assert list(consent.accounts.values_list("public_id", flat=True)) == [
        Account.objects.get(public_id=ticked[0]).public_id
    ]
    assert consent.accounts.get().connection.user == alice
    assert token["scope"] == "accounts balances"


def test_refresh_token_reuse_is_recorded_and_the_tpp_recovers_by_authorising_the_same_consent_again(
    live_server, alice_accounts
):
    from authlib.integrations.base_client.errors import OAuthError

    from consent.models import ConsentEvent

    tpp, consent, _params, _state, verifier, location, http = _approved(live_server, alice_accounts)
    first = tpp.exchange(location, verifier)
    tpp.client().refresh_token(tpp.token_url, refresh_token=first["refresh_token"])
    with pytest.raises(OAuthError):
        tpp.client().refresh_token(tpp.token_url, refresh_token=first["refresh_token"])  # replay: family revoked
    with pytest.raises(OAuthError):
        tpp.client().refresh_token(tpp.token_url, refresh_token=first["refresh_token"])  # again: no second event

    # What happened is recorded and visible: an event, the consent resource, the user's dashboard.
    events = ConsentEvent.objects.filter(consent_id=consent["id"], kind="tokens_revoked")
    assert [e.reason.split(":")[0] for e in events] == ["refresh_token_reuse"]
    resource = tpp.management_client().get(live_server.url + f"/api/v1/consents/{consent['id']}").json()["data"]
    assert resource["status"] == "authorised" and resource["tokens_revoked_reason"] == "refresh_token_reuse"
    assert resource["tokens_revoked_at"] is not None
    dashboard = http.get("/me/consents/").text
    assert "app access cut off" in dashboard and "used twice" in dashboard

    # Recovery: the same consent_id is authorised again by alice, and the TPP gets new, working tokens.
    url, _state, verifier = tpp.authorize_url(consent["id"])
    screen = flow.open_consent_screen(http, url, "alice", "alice-demo")
    assert screen.status_code == 200, screen.text[:500]
    renewed = tpp.exchange(flow.submit_consent(http, screen, "approve").headers["location"], verifier)
    api = tpp.client(token=renewed)
    assert api.get(live_server.url + "/api/v1/accounts").status_code == 200
    assert tpp.client().refresh_token(tpp.token_url, refresh_token=renewed["refresh_token"])["access_token"]
    resource = tpp.management_client().get(live_server.url + f"/api/v1/consents/{consent['id']}").json()["data"]
    assert resource["tokens_revoked_at"] is None and resource["tokens_revoked_reason"] == ""
    assert ConsentEvent.objects.filter(consent_id=consent["id"], kind="reauthorised").count() == 1
    assert "app access cut off" not in http.get("/me/consents/").text


def test_only_the_consents_own_user_may_authorise_it_again(live_server, alice_accounts, django_user_model):
    from consent.services import consent_tokens_revoked

    tpp, consent, *_ = _approved(live_server, alice_accounts)
    consent_tokens_revoked(consent=Consent.objects.get(pk=consent["id"]), reason="refresh_token_reuse")
    django_user_model.objects.create_user("mallory", password="mallory-pass")
    url, _state, _verifier = tpp.authorize_url(consent["id"])
    screen = flow.open_consent_screen(flow.browser(live_server.url), url, "mallory", "mallory-pass")
    assert screen.status_code == 403 and "someone else" in screen.text


def test_an_authorised_consent_with_working_tokens_cannot_be_authorised_again(live_server, alice_accounts):
    tpp, consent, _params, _state, verifier, location, http = _approved(live_server, alice_accounts)
    tpp.exchange(location, verifier)
    url, _state, _verifier = tpp.authorize_url(consent["id"])
    assert flow.open_consent_screen(http, url, "alice", "alice-demo").status_code == 409


# --- issue 17 #10: OAuth details -------------------------------------------------------------------------


def _token_post(live_server, tpp, **data):  # type: ignore[no-untyped-def]
    return httpx.post(tpp.token_url, data=data, auth=(tpp.client_id, tpp.client_secret), timeout=20)


def test_replaying_a_code_revokes_the_tokens_it_issued(live_server, alice_accounts):
    from authlib.integrations.base_client.errors import OAuthError

    tpp, consent, _params, _state, verifier, location, _ = _approved(live_server, alice_accounts)
    token = tpp.exchange(location, verifier)
    with pytest.raises(OAuthError) as excinfo:
        tpp.exchange(location, verifier)
    assert excinfo.value.error == "invalid_grant"
    # RFC 6749 §4.1.2: the tokens issued from the replayed code are revoked.
    assert tpp.client(token=token).get(live_server.url + "/api/v1/consents/current").status_code == 401
    with pytest.raises(OAuthError):
        tpp.client().refresh_token(tpp.token_url, refresh_token=token["refresh_token"])
    stored = Consent.objects.get(pk=consent["id"])
    assert stored.tokens_revoked_reason == "authorization_code_reuse"


def test_redirect_uri_omitted_at_the_token_endpoint_is_refused(live_server, alice_accounts):
    tpp, consent, params, _state, verifier, _location, _ = _approved(live_server, alice_accounts)
    response = _token_post(
        live_server, tpp, grant_type="authorization_code", code=params["code"], code_verifier=verifier
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert not AccessToken.objects.filter(consent_id=consent["id"]).exists()


def test_the_device_code_grant_is_an_unsupported_grant_type(live_server, alice_accounts):
    tpp = flow.create_tpp(live_server.url)
    response = _token_post(
        live_server, tpp, grant_type="urn:ietf:params:oauth:grant-type:device_code", device_code="anything"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("challenge", ["abc", "a" * 42, "a" * 129, "a" * 42 + "!"])
def test_a_code_challenge_outside_rfc_7636_is_refused(live_server, alice_accounts, challenge):
    tpp = flow.create_tpp(live_server.url)
    consent = tpp.create_consent()
    client = tpp.client(scope="accounts")
    url, _ = client.create_authorization_url(
        live_server.url + "/oauth/authorize/",
        consent_id=consent["id"],
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    response = flow.open_consent_screen(flow.browser(live_server.url), url, "alice", "alice-demo")
    params = flow.callback_params(response)
    assert params["error"] == "invalid_request"
    assert "code_challenge" in params["error_description"]


def test_a_loopback_redirect_uri_with_another_port_is_refused(live_server, alice_accounts):
    tpp = flow.create_tpp(live_server.url, redirect_uri="http://127.0.0.1:8765/callback")
    consent = tpp.create_consent()
    client = tpp.client(scope="accounts", code_challenge_method="S256", redirect_uri="http://127.0.0.1:9999/callback")
    url, _ = client.create_authorization_url(
        live_server.url + "/oauth/authorize/", code_verifier="v" * 50, consent_id=consent["id"]
    )
    page = flow.open_consent_screen(flow.browser(live_server.url), url, "alice", "alice-demo")
    assert page.status_code == 400
    assert "127.0.0.1:9999" not in page.headers.get("location", "")


# --- issue 17 #11: codes hashed at rest, expired grants and tokens cleared --------------------------------


def test_authorization_codes_are_stored_only_as_hashes(live_server, alice_accounts):
    _tpp, consent, params, *_rest = _approved(live_server, alice_accounts)
    stored = Grant.objects.get(consent_id=consent["id"])
    assert stored.code != params["code"]
    assert stored.code == hashlib.sha256(params["code"].encode()).hexdigest()
    assert not Grant.objects.filter(code=params["code"]).exists()
