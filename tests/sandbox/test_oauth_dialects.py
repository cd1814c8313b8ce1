"""The sandbox OAuth servers accept each standard's own way to name scope and consent: OBIE's
``scope=openid accounts`` with the consent in the request object's ``openbanking_intent_id``, Berlin Group's
``scope=AIS:<consentId>`` — and keep the simpler ``scope=accounts`` + ``consent_id`` working."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from providers.sandbox.models import SandboxClient, SandboxConsent, SandboxToken

from .banking import (
    ALBION,
    REDIRECT_URI,
    RHEIN,
    SECRETS,
    albion_consent,
    authorize,
    demo_clients,  # noqa: F401  (fixture)
    exchange,
    rhein_consent,
    rhein_headers,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_clients")]


def _request_object(consent_id: str, secret: str = SECRETS["albion"], **claims) -> str:  # type: ignore[no-untyped-def]
    body = {
        "iss": "aggregator-albion",
        "client_id": "aggregator-albion",
        "exp": int(time.time()) + 300,
        "claims": {"id_token": {"openbanking_intent_id": {"value": consent_id, "essential": True}}},
        **claims,
    }
    return jwt.encode({"alg": "HS256"}, body, OctKey.import_key(secret))


def _redirect_error(client, bank: str, **params: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The error an authorization request is answered with at the client's redirect URI."""
    query = {"response_type": "code", "client_id": f"aggregator-{bank}", "redirect_uri": REDIRECT_URI, "state": "s"}
    response = client.get(f"/sandbox/{bank}/oauth/authorize?{urlencode({**query, **params})}")
    assert response.status_code == 302, response.content
    assert response["Location"].startswith(REDIRECT_URI), response["Location"]
    answer = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
    assert answer["state"] == "s" and "code" not in answer
    return answer


# --- albion (OBIE) ---------------------------------------------------------------------------------------
def test_albion_accepts_the_obie_scope_openid_accounts(client):
    consent_id = albion_consent(client)
    result = authorize(client, "albion", consent_id=consent_id, scope="openid accounts")
    tokens = exchange(client, "albion", result["code"]).json()
    assert set(tokens["scope"].split()) == {"openid", "accounts"}
    accounts = client.get(f"{ALBION}/accounts", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert accounts.status_code == 200


@pytest.mark.parametrize("scope", ["openid accounts payments", "openid accounts fundsconfirmations", "accounts"])
def test_albion_accepts_every_obie_scope(client, scope):
    result = authorize(client, "albion", consent_id=albion_consent(client), scope=scope)
    assert exchange(client, "albion", result["code"]).status_code == 200


def test_albion_still_refuses_a_scope_obie_does_not_know(client):
    answer = _redirect_error(client, "albion", scope="openid transactions", consent_id=albion_consent(client))
    assert answer["error"] == "invalid_scope"


def test_albion_takes_the_consent_from_the_request_objects_openbanking_intent_id(client):
    consent_id = albion_consent(client)
    result = authorize(
        client, "albion", scope="openid accounts", extra={"request": _request_object(consent_id), "nonce": "n-1"}
    )
    tokens = exchange(client, "albion", result["code"]).json()
    token = SandboxToken.objects.get(access_token=tokens["access_token"])
    assert token.consent_id == consent_id
    assert SandboxConsent.objects.get(pk=consent_id).status == "Authorised"


def test_albion_reads_the_intent_id_from_the_userinfo_claims_too(client):
    consent_id = albion_consent(client)
    request_object = _request_object(
        consent_id, claims={"userinfo": {"openbanking_intent_id": {"value": consent_id, "essential": True}}}
    )
    result = authorize(client, "albion", scope="openid accounts", extra={"request": request_object})
    assert exchange(client, "albion", result["code"]).status_code == 200


def test_the_request_objects_parameters_win_over_the_query(client):
    consent_id = albion_consent(client)
    result = authorize(
        client,
        "albion",
        scope="openid accounts",
        state="query",
        extra={"request": _request_object(consent_id, state="signed")},
    )
    assert result["state"] == "signed"


def test_a_request_object_not_signed_with_the_client_secret_is_invalid_request_object(client):
    request_object = _request_object(albion_consent(client), secret="not-the-client-secret-at-all-0123456789")
    answer = _redirect_error(client, "albion", scope="openid accounts", request=request_object)
    assert answer["error"] == "invalid_request_object"


def test_an_expired_request_object_is_invalid_request_object(client):
    request_object = _request_object(albion_consent(client), exp=int(time.time()) - 60)
    answer = _redirect_error(client, "albion", scope="openid accounts", request=request_object)
    assert answer["error"] == "invalid_request_object"


def test_a_request_object_naming_another_consent_than_the_parameter_is_refused(client):
    first, second = albion_consent(client), albion_consent(client)
    answer = _redirect_error(
        client, "albion", scope="openid accounts", request=_request_object(first), consent_id=second
    )
    assert answer["error"] == "invalid_request"


def test_a_request_object_with_an_unknown_intent_id_is_refused(client):
    answer = _redirect_error(client, "albion", scope="openid accounts", request=_request_object("aac-nope"))
    assert answer["error"] == "invalid_request"


def test_albion_metadata_publishes_its_scopes_and_request_object_support(client):
    body = client.get("/sandbox/albion/.well-known/oauth-authorization-server").json()
    assert {"openid", "accounts", "payments"} <= set(body["scopes_supported"])
    assert body["request_parameter_supported"] is True
    assert body["request_object_signing_alg_values_supported"] == ["HS256"]


# --- rhein (Berlin Group) --------------------------------------------------------------------------------
def test_rhein_binds_the_authorization_to_the_consent_named_in_the_ais_scope(client):
    consent_id = rhein_consent(client)
    other = rhein_consent(client)
    result = authorize(client, "rhein", scope=f"AIS:{consent_id}")
    response = exchange(client, "rhein", result["code"])
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert tokens["scope"] == f"AIS:{consent_id}"
    assert SandboxToken.objects.get(access_token=tokens["access_token"]).consent_id == consent_id
    assert SandboxConsent.objects.get(pk=consent_id).status == "valid"
    assert SandboxConsent.objects.get(pk=other).status == "received"
    accounts = client.get(f"{RHEIN}/accounts", **rhein_headers(tokens["access_token"], consent_id))
    assert accounts.status_code == 200, accounts.content


def test_rhein_refuses_an_ais_scope_with_an_unknown_consent_id(client):
    assert _redirect_error(client, "rhein", scope="AIS:no-such-consent")["error"] == "invalid_scope"


def test_rhein_refuses_an_ais_scope_naming_another_tpps_consent(client):
    SandboxClient.objects.create(
        bank="rhein",
        client_id="other-tpp",
        client_secret="other-secret",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
    )
    consent_id = rhein_consent(client)
    # the other TPP asks the PSU first: the consent is theirs from then on
    query = {
        "response_type": "code",
        "client_id": "other-tpp",
        "redirect_uri": REDIRECT_URI,
        "scope": f"AIS:{consent_id}",
    }
    assert "/oauth/login/" in client.get(f"/sandbox/rhein/oauth/authorize?{urlencode(query)}")["Location"]

    answer = _redirect_error(client, "rhein", scope=f"AIS:{consent_id}")
    assert answer["error"] == "invalid_scope"
    assert SandboxConsent.objects.get(pk=consent_id).status == "received"


def test_rhein_refuses_a_consent_id_parameter_that_contradicts_the_ais_scope(client):
    first, second = rhein_consent(client), rhein_consent(client)
    assert _redirect_error(client, "rhein", scope=f"AIS:{first}", consent_id=second)["error"] == "invalid_request"


@pytest.mark.parametrize("scope", ["PIIS:abc", "AIS", "openid"])
def test_rhein_refuses_scopes_it_does_not_offer(client, scope):
    assert _redirect_error(client, "rhein", scope=scope, consent_id=rhein_consent(client))["error"] == "invalid_scope"


def test_rhein_refuses_a_payment_scope_naming_an_account_access_consent(client):
    consent_id = rhein_consent(client)
    assert _redirect_error(client, "rhein", scope=f"PIS:{consent_id}")["error"] == "invalid_scope"


def test_rhein_keeps_the_simple_consent_id_parameter(client):
    consent_id = rhein_consent(client)
    result = authorize(client, "rhein", consent_id=consent_id, scope="accounts")
    tokens = exchange(client, "rhein", result["code"]).json()
    assert tokens["scope"] == "accounts"
    assert SandboxToken.objects.get(access_token=tokens["access_token"]).consent_id == consent_id
