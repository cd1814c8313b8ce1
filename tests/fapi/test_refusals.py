"""The negative matrix of FAPI 2.0: each refusal with its exact error, status and header."""

from __future__ import annotations

import time

import pytest
from joserfc.jwk import ECKey

from consent.fapi import nonce as nonce_module
from consent.models import PushedAuthorizationRequest
from tests.consent import flow
from tests.fapi.conftest import BASE, approve, fapi2_client

pytestmark = pytest.mark.django_db

ACCOUNTS = BASE + "/api/v1/accounts"


def _credentials_form(assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": "consents",
        "client_assertion_type": fapi2_client.CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
    }


def _token_request(tpp, assertion: str):  # type: ignore[no-untyped-def]
    form = _credentials_form(assertion)
    return tpp.send("POST", tpp.metadata["token_endpoint"], form=form)


def _oauth_error(response, status: int, error: str) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    return body["error_description"]


def _dpop_refusal(response, error: str, code: str | None = None) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(f'DPoP error="{error}"'), challenge
    assert 'algs="PS256 ES256 EdDSA"' in challenge
    (entry,) = response.json()["errors"]
    assert entry["code"] == (code or error)
    return entry["message"]


def _get(tpp, proof: str, url: str = ACCOUNTS, token: str | None = None):  # type: ignore[no-untyped-def]
    token = token or tpp.tokens["access_token"]
    return tpp.http.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": proof})


# --- private_key_jwt -------------------------------------------------------------------------------------------
def test_a_replayed_client_assertion_is_invalid_client(tpp):
    assertion = tpp.client_assertion()
    assert _token_request(tpp, assertion).status_code == 200
    assert "already used" in _oauth_error(_token_request(tpp, assertion), 401, "invalid_client")


def test_an_assertion_for_the_token_endpoint_instead_of_the_issuer_is_invalid_client(tpp):
    response = _token_request(tpp, tpp.client_assertion(aud=tpp.metadata["token_endpoint"]))
    assert "aud must be the issuer identifier" in _oauth_error(response, 401, "invalid_client")
    response = _token_request(tpp, tpp.client_assertion(aud=[tpp.metadata["issuer"]]))
    assert "single string" in _oauth_error(response, 401, "invalid_client")


def test_an_expired_or_long_lived_assertion_is_invalid_client(tpp):
    now = int(time.time())
    expired = _token_request(tpp, tpp.client_assertion(iat=now - 120, exp=now - 60))
    assert "expired" in _oauth_error(expired, 401, "invalid_client")
    too_long = _token_request(tpp, tpp.client_assertion(exp=now + 3600))
    assert "lives too long" in _oauth_error(too_long, 401, "invalid_client")


def test_an_assertion_signed_by_a_key_not_in_the_jwks_is_invalid_client(tpp):
    registered = tpp.key
    tpp.key = ECKey.generate_key("P-256", auto_kid=True)
    response = _token_request(tpp, tpp.client_assertion())
    assert "not signed by a key of the client's registered JWKS" in _oauth_error(response, 401, "invalid_client")
    tpp.key = ECKey.generate_key("P-256", parameters={"kid": registered.kid})  # same kid, other key
    assert _token_request(tpp, tpp.client_assertion()).status_code == 401


def test_a_fapi2_client_may_not_use_a_client_secret(tpp, fapi_app):
    fapi_app.client_secret = "known-secret-for-this-test"
    fapi_app.save()
    response = tpp.send(
        "POST", tpp.metadata["token_endpoint"], form={"grant_type": "client_credentials", "scope": "consents"},
        auth=(fapi_app.client_id, "known-secret-for-this-test"),
    )  # fmt: skip
    assert "client secrets are refused" in _oauth_error(response, 401, "invalid_client")


def test_a_fapi2_token_request_without_a_dpop_proof_is_refused(tpp):
    form = _credentials_form(tpp.client_assertion())
    response = tpp.http.post("/oauth/token/", data=form)
    assert "DPoP proof is required" in _oauth_error(response, 400, "invalid_dpop_proof")


def test_the_token_endpoint_asks_for_its_nonce(tpp):
    proof = tpp.dpop_proof("POST", tpp.metadata["token_endpoint"], nonce=None)
    form = _credentials_form(tpp.client_assertion())
    response = tpp.http.post("/oauth/token/", data=form, headers={"DPoP": proof})
    _oauth_error(response, 400, "use_dpop_nonce")
    assert response.headers["dpop-nonce"] == nonce_module.nonce_current()


# --- PAR -------------------------------------------------------------------------------------------------------
def test_a_fapi2_client_cannot_send_loose_authorization_parameters(wsgi, tpp, alice_accounts):
    consent = tpp.create_consent()
    baseline = flow.Tpp(base=BASE, client_id=tpp.client_id, client_secret="")
    url, _state, _verifier = baseline.authorize_url(consent["id"])
    response = wsgi().get(url[len(BASE) :])
    assert response.status_code == 400 and "invalid_request" in response.text
    assert "must push its authorization request" in response.text


def test_fapi2_required_makes_every_client_push_and_refuses_secrets(wsgi, settings, alice_accounts):
    plain = flow.create_tpp(BASE, name="Plain")
    settings.CONSENT = {**getattr(settings, "CONSENT", {}), "FAPI2_REQUIRED": True}
    http = wsgi()
    token = http.post(
        "/oauth/token/", data={"grant_type": "client_credentials", "scope": "consents"},
        auth=(plain.client_id, plain.client_secret),
    )  # fmt: skip
    assert "client secrets are refused" in _oauth_error(token, 401, "invalid_client")
    url = f"/oauth/authorize/?client_id={plain.client_id}&response_type=code"
    assert "must push its authorization request" in http.get(url).text
    metadata = http.get("/.well-known/oauth-authorization-server").json()
    assert metadata["require_pushed_authorization_requests"] is True
    assert metadata["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert http.get("/.well-known/oauth-protected-resource").json()["dpop_bound_access_tokens_required"] is True


def test_a_used_request_uri_is_invalid_request_uri(wsgi, tpp, alice_accounts):
    consent = tpp.create_consent()
    request_uri, _params = approve(wsgi, tpp, consent["id"])
    browser = wsgi()
    screen = flow.open_consent_screen(browser, tpp.authorization_url(request_uri), "alice", "alice-demo")
    assert screen.status_code == 400 and "invalid_request_uri" in screen.text


def test_an_expired_request_uri_is_invalid_request_uri(wsgi, tpp, alice_accounts):
    consent = tpp.create_consent()
    request_uri = tpp.push_authorization_request(consent["id"])
    PushedAuthorizationRequest.objects.update(expires_at=PushedAuthorizationRequest.objects.get().created_at)
    browser = wsgi()
    screen = flow.open_consent_screen(browser, tpp.authorization_url(request_uri), "alice", "alice-demo")
    assert screen.status_code == 400 and "invalid_request_uri" in screen.text


def test_a_request_uri_claimed_by_one_browser_is_refused_to_another(wsgi, tpp, alice_accounts):
    consent = tpp.create_consent()
    url = tpp.authorization_url(tpp.push_authorization_request(consent["id"]))
    first = flow.open_consent_screen(wsgi(), url, "alice", "alice-demo")
    assert first.status_code == 200
    second = flow.open_consent_screen(wsgi(), url, "alice", "alice-demo")
    assert second.status_code == 400 and "invalid_request_uri" in second.text


def test_a_request_uri_of_another_client_is_refused(wsgi, tpp, alice_accounts):
    consent = tpp.create_consent()
    request_uri = tpp.push_authorization_request(consent["id"])
    other = flow.create_tpp(BASE, name="Other")
    response = wsgi().get("/oauth/authorize/", params={"client_id": other.client_id, "request_uri": request_uri})
    assert response.status_code in (302, 400)  # a login first, then the same refusal
    browser = wsgi()
    screen = flow.open_consent_screen(
        browser, f"{BASE}/oauth/authorize/?client_id={other.client_id}&request_uri={request_uri}", "alice", "alice-demo"
    )
    assert screen.status_code == 400 and "invalid_request_uri" in screen.text


def test_par_refuses_a_request_uri_inside_the_push_and_an_unauthenticated_client(tpp, alice_accounts):
    consent = tpp.create_consent()
    body = {"response_type": "code", "client_id": tpp.client_id, "redirect_uri": tpp.redirect_uri,
            "scope": "accounts", "code_challenge": "a" * 43, "code_challenge_method": "S256",
            "consent_id": consent["id"]}  # fmt: skip
    anonymous = tpp.http.post("/oauth/par/", data=body)
    _oauth_error(anonymous, 401, "invalid_client")
    nested = tpp.http.post(
        "/oauth/par/",
        data={**body, "request_uri": "urn:x", "client_assertion_type": fapi2_client.CLIENT_ASSERTION_TYPE,
              "client_assertion": tpp.client_assertion()},
    )  # fmt: skip
    assert "must not contain request_uri" in _oauth_error(nested, 400, "invalid_request")
    plain = tpp.http.post(
        "/oauth/par/",
        data={**body, "code_challenge_method": "plain", "client_assertion_type": fapi2_client.CLIENT_ASSERTION_TYPE,
              "client_assertion": tpp.client_assertion()},
    )  # fmt: skip
    assert "PKCE" in _oauth_error(plain, 400, "invalid_request")


# --- DPoP at the API -------------------------------------------------------------------------------------------
def test_a_missing_proof_is_invalid_dpop_proof(bound):
    response = bound.http.get(ACCOUNTS, headers={"Authorization": f"DPoP {bound.tokens['access_token']}"})
    assert "proof is required" in _dpop_refusal(response, "invalid_dpop_proof")


def test_a_proof_for_another_url_or_method_is_invalid_dpop_proof(bound):
    token = bound.tokens["access_token"]
    other_url = bound.dpop_proof("GET", BASE + "/api/v1/consents/current", token)
    assert "another URL" in _dpop_refusal(_get(bound, other_url), "invalid_dpop_proof")
    other_method = bound.dpop_proof("POST", ACCOUNTS, token)
    assert "another method" in _dpop_refusal(_get(bound, other_method), "invalid_dpop_proof")
    # htu is compared without query and fragment, after normalising scheme, host and default port.
    assert _get(bound, bound.dpop_proof("GET", "HTTP://TESTSERVER:80/api/v1/accounts?x=1", token)).status_code == 200


def test_a_replayed_proof_is_invalid_dpop_proof(bound):
    proof = bound.dpop_proof("GET", ACCOUNTS, bound.tokens["access_token"])
    assert _get(bound, proof).status_code == 200
    assert "already used" in _dpop_refusal(_get(bound, proof), "invalid_dpop_proof")


def test_a_proof_with_a_stale_iat_is_invalid_dpop_proof(bound):
    proof = bound.dpop_proof("GET", ACCOUNTS, bound.tokens["access_token"], iat=int(time.time()) - 300)
    assert "iat" in _dpop_refusal(_get(bound, proof), "invalid_dpop_proof")


def test_a_proof_with_a_wrong_ath_is_invalid_dpop_proof(bound):
    proof = bound.dpop_proof("GET", ACCOUNTS, "some-other-token")
    assert "ath" in _dpop_refusal(_get(bound, proof), "invalid_dpop_proof")


def test_a_proof_signed_by_another_key_is_invalid_dpop_proof(bound):
    proof = bound.dpop_proof("GET", ACCOUNTS, bound.tokens["access_token"], signing_key=ECKey.generate_key("P-256"))
    assert "another key" in _dpop_refusal(_get(bound, proof), "invalid_dpop_proof")


def test_a_bound_token_sent_as_bearer_is_refused(bound):
    response = bound.http.get(ACCOUNTS, headers={"Authorization": f"Bearer {bound.tokens['access_token']}"})
    assert "DPoP-bound" in _dpop_refusal(response, "invalid_token", "token_invalid")


def test_a_proof_without_the_server_nonce_gets_use_dpop_nonce_and_the_nonce(bound):
    response = _get(bound, bound.dpop_proof("GET", ACCOUNTS, bound.tokens["access_token"], nonce=None))
    _dpop_refusal(response, "use_dpop_nonce")
    assert response.headers["dpop-nonce"] == nonce_module.nonce_current()


def test_the_previous_nonce_still_works_and_the_answer_offers_the_current_one(bound):
    window = int(time.time()) // 300
    previous = nonce_module._nonce_for(window - 1)
    response = _get(bound, bound.dpop_proof("GET", ACCOUNTS, bound.tokens["access_token"], nonce=previous))
    assert response.status_code == 200 and response.headers["dpop-nonce"] == nonce_module.nonce_current()
    older = nonce_module._nonce_for(window - 2)
    refused = _get(bound, bound.dpop_proof("GET", ACCOUNTS, bound.tokens["access_token"], nonce=older))
    _dpop_refusal(refused, "use_dpop_nonce")


def test_a_proof_that_is_not_dpop_or_not_signed_by_its_jwk_is_refused(bound):
    token = bound.tokens["access_token"]
    proof = bound.dpop_proof("GET", ACCOUNTS, token)
    header, payload, signature = proof.split(".")
    tampered = ".".join([header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), signature])
    _dpop_refusal(_get(bound, tampered), "invalid_dpop_proof")
    _dpop_refusal(_get(bound, "not-a-jwt"), "invalid_dpop_proof")
    _dpop_refusal(_get(bound, proof + "," + proof), "invalid_dpop_proof")


def test_refresh_needs_a_proof_by_the_same_key(bound):
    bound.dpop_key = ECKey.generate_key("P-256")
    form = {"grant_type": "refresh_token", "refresh_token": bound.tokens["refresh_token"],
            "client_assertion_type": fapi2_client.CLIENT_ASSERTION_TYPE}  # fmt: skip
    response = bound.send(
        "POST", bound.metadata["token_endpoint"], form=lambda: {**form, "client_assertion": bound.client_assertion()}
    )
    assert "same key" in _oauth_error(response, 400, "invalid_dpop_proof")


def test_an_unreachable_replay_cache_fails_closed(bound, unreachable_cache):  # the cache goes after the flow
    proof = bound.dpop_proof("GET", ACCOUNTS, bound.tokens["access_token"])
    response = _get(bound, proof)
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.json()["errors"][0]["code"] == "temporarily_unavailable"
    token = bound.send("POST", bound.metadata["token_endpoint"], form={"grant_type": "client_credentials"})
    assert _oauth_error(token, 503, "temporarily_unavailable")
