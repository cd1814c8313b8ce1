"""The sandbox bank albion takes private_key_jwt at its token endpoint (OBIE's FAPI profile), and our OBIE adapter's
client authenticates that way with the sandbox's generated key pair. (authlib answers invalid_client with 400 when
the client did not use the Authorization header, as RFC 6749 §5.2 allows.)"""

from __future__ import annotations

import httpx
import pytest
from joserfc.jwk import ECKey

from providers.adapters.obie.client import OBIEClient
from providers.client_keys import CLIENT_ASSERTION_TYPE, client_assertion, sandbox_client_key
from providers.oauth import OAuthServer, token_request
from providers.registry import sandbox_clients

pytestmark = pytest.mark.django_db

ALBION = "http://testserver/sandbox/albion"


@pytest.fixture
def albion_client(db):  # type: ignore[no-untyped-def]
    from providers.sandbox.oauth.clients import client_sync_demo

    client_sync_demo()
    return sandbox_clients()["albion"]["client_id"]


def _token(client, assertion: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/sandbox/albion/oauth/token",
        {"grant_type": "client_credentials", "scope": "accounts", "client_assertion_type": CLIENT_ASSERTION_TYPE,
         "client_assertion": assertion},
    )  # fmt: skip


def test_albion_advertises_and_accepts_private_key_jwt_once(client, albion_client):
    metadata = client.get("/sandbox/albion/.well-known/oauth-authorization-server").json()
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assertion = client_assertion(client_id=albion_client, audience=ALBION, private_jwk=sandbox_client_key())
    accepted = _token(client, assertion)
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["access_token"]
    replayed = _token(client, assertion)
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_client"


def test_albion_refuses_an_assertion_by_another_key_or_for_another_audience(client, albion_client):
    other = ECKey.generate_key("P-256", auto_kid=True).as_dict(private=True)
    wrong_key = _token(client, client_assertion(client_id=albion_client, audience=ALBION, private_jwk=other))
    assert wrong_key.status_code == 400 and wrong_key.json()["error"] == "invalid_client"
    wrong_aud = _token(
        client, client_assertion(client_id=albion_client, audience="http://testserver/sandbox/rhein",
                                 private_jwk=sandbox_client_key())
    )  # fmt: skip
    assert wrong_aud.status_code == 400 and wrong_aud.json()["error"] == "invalid_client"


def test_the_obie_client_sends_a_client_assertion_instead_of_its_secret(respx_mock):
    server = OAuthServer(
        issuer="https://bank.example", authorization_endpoint="https://bank.example/authorize",
        token_endpoint="https://bank.example/token", token_auth_methods=("client_secret_basic", "private_key_jwt"),
    )  # fmt: skip
    route = respx_mock.post("https://bank.example/token").mock(
        return_value=httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 60})
    )
    key = sandbox_client_key()
    client = OBIEClient(base_url="https://bank.example", client_id="agg", client_secret="s", client_signing_key=key)
    client.server = lambda: server  # type: ignore[method-assign]
    assert client.client_credentials_token() == "t"
    sent = dict(httpx.QueryParams(route.calls.last.request.content.decode()))
    assert "authorization" not in route.calls.last.request.headers and "client_secret" not in sent
    assert sent["client_assertion_type"] == CLIENT_ASSERTION_TYPE and sent["client_id"] == "agg"
    from joserfc import jwt
    from joserfc.jwk import ECKey as Key

    claims = jwt.decode(sent["client_assertion"], Key.import_key(key)).claims
    assert claims["aud"] == "https://bank.example" and claims["iss"] == claims["sub"] == "agg"
    # A bank that does not offer private_key_jwt still gets the secret.
    plain = token_request(
        OAuthServer(issuer="", authorization_endpoint="", token_endpoint="https://bank.example/token"),
        client_id="agg", client_secret="s", form={"grant_type": "client_credentials"}, signing_key=key,
    )  # fmt: skip
    assert plain["access_token"] == "t" and route.calls.last.request.headers["authorization"].startswith("Basic ")
