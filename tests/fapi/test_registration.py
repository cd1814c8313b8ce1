"""Registering FAPI 2.0 clients (create_tpp, JWKS inline or by URL behind the SSRF guard) and the metadata."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from django.core.management import CommandError, call_command
from joserfc.jwk import ECKey, RSAKey

from consent.fapi.jwks import JwksError, jwks_fetch
from consent.models import Application
from consent.tpp import tpp_create
from tests.fapi.conftest import BASE, REDIRECT_URI, fapi2_client

pytestmark = pytest.mark.django_db

JWKS_URL = "https://keys.tpp.example/jwks.json"


def _public_jwks(*keys) -> dict:  # type: ignore[no-untyped-def]
    return {"keys": [key.as_dict(private=False) for key in keys]}


def test_create_tpp_registers_a_fapi2_client_with_its_jwks_and_no_secret(tmp_path):
    key = ECKey.generate_key("P-256", auto_kid=True)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(_public_jwks(key)))
    out = io.StringIO()
    call_command("create_tpp", "Fapi", "--redirect-uri", REDIRECT_URI, "--profile", "fapi2", "--jwks", str(path),
                 "--json", stdout=out)  # fmt: skip
    printed = json.loads(out.getvalue())
    assert printed["profile"] == "fapi2" and "client_secret" not in printed
    app = Application.objects.get(client_id=printed["client_id"])
    assert app.profile == "fapi2" and app.jwks == _public_jwks(key) and app.jwks_uri == ""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "needs its public keys"),
        (["--jwks-uri", "ftp://keys.example/jwks"], "must be an absolute"),
    ],
)
def test_create_tpp_refuses_a_fapi2_client_without_usable_keys(arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_tpp", "Fapi", "--redirect-uri", REDIRECT_URI, "--profile", "fapi2", *arguments)


def test_a_jwks_with_a_private_key_or_a_weak_rsa_key_is_refused():
    private = {"keys": [ECKey.generate_key("P-256").as_dict(private=True)]}
    with pytest.raises(Exception, match="private"):
        tpp_create(name="x", redirect_uris=[REDIRECT_URI], profile="fapi2", jwks=private)
    weak = {"keys": [RSAKey.generate_key(1024).as_dict(private=False)]}
    with pytest.raises(Exception, match="2048"):
        tpp_create(name="x", redirect_uris=[REDIRECT_URI], profile="fapi2", jwks=weak)


def test_jwks_uri_is_refused_on_private_addresses_and_plain_http_outside_local(settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "ALLOW_PRIVATE_DESTINATIONS": False}
    with pytest.raises(Exception, match="non-public address"):
        tpp_create(name="x", redirect_uris=[REDIRECT_URI], profile="fapi2", jwks_uri="https://127.0.0.1/jwks.json")
    with pytest.raises(Exception, match="https"):
        tpp_create(name="x", redirect_uris=[REDIRECT_URI], profile="fapi2", jwks_uri="http://keys.example/jwks")
    with pytest.raises(JwksError, match="non-public address"):
        jwks_fetch("https://localhost/jwks.json")  # checked again at fetch time (DNS rebinding)


def test_a_client_with_a_jwks_uri_authenticates_and_the_set_is_fetched_once(respx_mock, wsgi):
    key = ECKey.generate_key("P-256", auto_kid=True)
    route = respx_mock.get(JWKS_URL).mock(return_value=httpx.Response(200, json=_public_jwks(key)))
    app = tpp_create(name="ByUrl", redirect_uris=[REDIRECT_URI], profile="fapi2", jwks_uri=JWKS_URL).application
    tpp = fapi2_client.Fapi2Client(http=wsgi(), client_id=app.client_id, key=key, redirect_uri=REDIRECT_URI)
    assert tpp.token(grant_type="client_credentials", scope="consents")["token_type"] == "DPoP"
    assert tpp.token(grant_type="client_credentials", scope="consents")["token_type"] == "DPoP"
    assert route.call_count == 1  # cached (JWKS_URI_CACHE_SECONDS)


def test_a_rotated_key_is_found_by_one_early_refetch(respx_mock, wsgi):
    old, new = ECKey.generate_key("P-256", auto_kid=True), ECKey.generate_key("P-256", auto_kid=True)
    route = respx_mock.get(JWKS_URL).mock(
        side_effect=[httpx.Response(200, json=_public_jwks(old)), httpx.Response(200, json=_public_jwks(old, new))]
    )
    app = tpp_create(name="ByUrl", redirect_uris=[REDIRECT_URI], profile="fapi2", jwks_uri=JWKS_URL).application
    tpp = fapi2_client.Fapi2Client(http=wsgi(), client_id=app.client_id, key=old, redirect_uri=REDIRECT_URI)
    tpp.token(grant_type="client_credentials", scope="consents")
    tpp.key = new
    assert tpp.token(grant_type="client_credentials", scope="consents")["token_type"] == "DPoP"
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(200, content=b"{" + b" " * 70_000 + b"}"), "more than 65536 bytes"),
        (httpx.Response(302, headers={"Location": "http://169.254.169.254/"}), "HTTP 302"),
        (httpx.Response(200, content=b"<html>"), "did not answer JSON"),
    ],
)
def test_a_jwks_uri_answer_that_is_too_big_a_redirect_or_not_json_is_refused(respx_mock, answer, message):
    respx_mock.get(JWKS_URL).mock(return_value=answer)
    with pytest.raises(JwksError, match=message):
        jwks_fetch(JWKS_URL)


def test_the_metadata_documents_describe_par_private_key_jwt_and_dpop(wsgi):
    http = wsgi()
    server = http.get("/.well-known/oauth-authorization-server").json()
    assert server["issuer"] == BASE
    assert server["pushed_authorization_request_endpoint"] == BASE + "/oauth/par/"
    assert server["require_pushed_authorization_requests"] is False  # baseline clients stay possible
    assert "private_key_jwt" in server["token_endpoint_auth_methods_supported"]
    assert server["token_endpoint_auth_signing_alg_values_supported"] == ["PS256", "ES256", "EdDSA"]
    assert server["dpop_signing_alg_values_supported"] == ["PS256", "ES256", "EdDSA"]
    assert server["code_challenge_methods_supported"] == ["S256"]
    assert server["authorization_response_iss_parameter_supported"] is True
    resource = http.get("/.well-known/oauth-protected-resource").json()
    assert resource["authorization_servers"] == [BASE] and resource["bearer_methods_supported"] == ["header"]
    assert resource["dpop_bound_access_tokens_required"] is False
