"""providers.oauth: the authorization request every adapter builds the same way."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

from providers.oauth import OAuthServer, authorization_request_build


def _server(*, pkce: bool) -> OAuthServer:
    return OAuthServer(
        issuer="https://bank.test",
        authorization_endpoint="https://bank.test/oauth/authorize?realm=x",
        token_endpoint="https://bank.test/oauth/token",
        code_challenge_methods=("S256",) if pkce else (),
    )


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def test_authorization_request_carries_a_pkce_challenge_of_its_verifier_when_the_server_supports_s256():
    auth = authorization_request_build(
        server=_server(pkce=True),
        client_id="agg",
        redirect_uri="https://agg.test/cb",
        scope="accounts",
        consent_id="c-1",
        user_hint="alice",
        extra={"consent_expires_at": "2026-01-01T00:00:00+00:00"},
    )
    query = _query(auth.url)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(auth.code_verifier.encode()).digest()).rstrip(b"=").decode()
    assert query == {
        "realm": "x",
        "response_type": "code",
        "client_id": "agg",
        "redirect_uri": "https://agg.test/cb",
        "scope": "accounts",
        "state": auth.state,
        "consent_id": "c-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "login_hint": "alice",
    }
    assert auth.consent_id == "c-1"
    assert dict(auth.extra) == {"consent_expires_at": "2026-01-01T00:00:00+00:00"}


def test_authorization_request_leaves_out_pkce_and_empty_parameters_when_the_server_lacks_s256():
    auth = authorization_request_build(
        server=_server(pkce=False), client_id="agg", redirect_uri="https://agg.test/cb", scope="accounts"
    )
    query = _query(auth.url)
    assert set(query) == {"realm", "response_type", "client_id", "redirect_uri", "scope", "state"}
    assert auth.code_verifier == ""
    assert auth.consent_id == ""
    assert dict(auth.extra) == {}


def test_each_authorization_request_gets_its_own_state():
    server = _server(pkce=True)
    first, second = (
        authorization_request_build(server=server, client_id="agg", redirect_uri="https://agg.test/cb", scope="a")
        for _ in range(2)
    )
    assert first.state != second.state
    assert first.code_verifier != second.code_verifier
