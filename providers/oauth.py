"""Client side of a bank's OAuth 2.0 server, shared by the adapters: RFC 8414 discovery, PKCE (RFC 7636),
authorization URLs and token requests (authorization code, refresh with rotation, client credentials).

Token endpoint errors map to the taxonomy through ``providers.oauth_errors`` (``invalid_grant`` →
``ReauthRequiredError``; ``invalid_client``, ``unauthorized_client``, ``invalid_scope``, … →
``ClientRejectedError``; ``server_error`` → ``TransientProviderError``); 5xx, timeouts and malformed bodies →
``TransientProviderError`` (via ``providers.http``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.utils import timezone

from .base import (
    AuthorizationRequest,
    Credentials,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from .client_keys import CLIENT_ASSERTION_TYPE, client_assertion
from .http import HttpResponse, provider_client
from .oauth_errors import oauth_error

__all__ = [
    "OAuthServer",
    "authorization_request_build",
    "authorize_url",
    "new_pkce_pair",
    "new_state",
    "oauth_discover",
    "token_request",
    "tokens_to_credentials",
]

_DISCOVERY_TTL = 300.0
_discovery_cache: dict[str, tuple[float, OAuthServer]] = {}
_discovery_lock = threading.Lock()


@dataclass(frozen=True)
class OAuthServer:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str = ""
    code_challenge_methods: tuple[str, ...] = ()
    token_auth_methods: tuple[str, ...] = ("client_secret_basic",)

    @property
    def supports_pkce(self) -> bool:
        return "S256" in self.code_challenge_methods


def oauth_discover(bank_base_url: str) -> OAuthServer:
    """The bank's authorization server metadata (RFC 8414), cached for a few minutes per process."""
    url = bank_base_url.rstrip("/") + "/.well-known/oauth-authorization-server"
    now = time.monotonic()
    cached = _discovery_cache.get(url)
    if cached and cached[0] > now:
        return cached[1]
    body = provider_client().request("GET", url).json_object()
    try:
        server = OAuthServer(
            issuer=str(body.get("issuer", "")),
            authorization_endpoint=str(body["authorization_endpoint"]),
            token_endpoint=str(body["token_endpoint"]),
            revocation_endpoint=str(body.get("revocation_endpoint", "")),
            code_challenge_methods=tuple(body.get("code_challenge_methods_supported") or ()),
            token_auth_methods=tuple(body.get("token_endpoint_auth_methods_supported") or ("client_secret_basic",)),
        )
    except KeyError as exc:
        raise PermanentProviderError(f"OAuth metadata at {url} lacks {exc}", code="bad_oauth_metadata") from exc
    with _discovery_lock:
        _discovery_cache[url] = (now + _DISCOVERY_TTL, server)
    return server


def discovery_cache_clear() -> None:
    with _discovery_lock:
        _discovery_cache.clear()


def new_state() -> str:
    return secrets.token_urlsafe(32)


def new_pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(server: OAuthServer, params: dict[str, str]) -> str:
    separator = "&" if "?" in server.authorization_endpoint else "?"
    return server.authorization_endpoint + separator + urlencode({k: v for k, v in params.items() if v})


def authorization_request_build(
    *,
    server: OAuthServer,
    client_id: str,
    redirect_uri: str,
    scope: str,
    consent_id: str = "",
    user_hint: str = "",
    extra: dict[str, Any] | None = None,
) -> AuthorizationRequest:
    """The authorization code request for one user: a fresh ``state``, a PKCE pair when the server supports
    S256, and the authorize URL (``consent_id`` on it when the bank-side consent exists already)."""
    state = new_state()
    verifier, challenge = new_pkce_pair() if server.supports_pkce else ("", "")
    url = authorize_url(
        server,
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "consent_id": consent_id,
            "code_challenge": challenge,
            "code_challenge_method": "S256" if challenge else "",
            "login_hint": user_hint,
        },
    )
    return AuthorizationRequest(
        url=url, state=state, code_verifier=verifier, consent_id=consent_id, extra=dict(extra or {})
    )


def _token_error(response: HttpResponse, client_id: str = "") -> ProviderError | None:
    if response.status < 400:
        return None
    if response.status >= 500 or response.status == 429:
        return None  # the default mapping: transient / rate limited
    try:
        body = response.json_object()
    except TransientProviderError:
        body = {}
    return oauth_error(
        str(body.get("error", "")),
        str(body.get("error_description", "")),
        client_id=client_id,
        status=response.status,
    )


def token_request(
    server: OAuthServer,
    *,
    client_id: str,
    client_secret: str,
    form: dict[str, str],
    signing_key: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """POST to the token endpoint with the client authenticated as the server prefers; the JSON token response.

    With a ``signing_key`` (private JWK) and a server that offers ``private_key_jwt``, a client assertion (RFC 7523
    §2.2, ``aud`` = the issuer, as FAPI 2.0 wants) replaces the client secret."""
    data = {k: v for k, v in form.items() if v}
    auth = None
    if signing_key and "private_key_jwt" in server.token_auth_methods:
        data["client_id"] = client_id
        data["client_assertion_type"] = CLIENT_ASSERTION_TYPE
        data["client_assertion"] = client_assertion(
            client_id=client_id, audience=server.issuer or server.token_endpoint, private_jwk=signing_key
        )
    elif "client_secret_basic" in server.token_auth_methods and client_secret:
        auth = (client_id, client_secret)
    else:
        data["client_id"] = client_id
        if client_secret:
            data["client_secret"] = client_secret
    response = provider_client().request(
        "POST",
        server.token_endpoint,
        data=data,
        auth=auth,
        error_mapper=lambda answer: _token_error(answer, client_id),
    )
    body = response.json_object()
    if not body.get("access_token"):
        raise TransientProviderError("token response without access_token", code="malformed_response")
    return body


def tokens_to_credentials(
    body: dict[str, Any], *, previous: Credentials | None = None, **overrides: Any
) -> Credentials:
    """Credentials from a token response; keeps the previous refresh token when the bank did not rotate it."""
    expires_in = body.get("expires_in")
    expires_at = None
    if expires_in is not None:
        try:
            expires_at = timezone.now() + timedelta(seconds=float(expires_in))
        except (TypeError, ValueError):
            expires_at = None
    values: dict[str, Any] = {
        "access_token": str(body["access_token"]),
        "refresh_token": str(body.get("refresh_token") or (previous.refresh_token if previous else "")),
        "expires_at": expires_at,
        "scope": str(body.get("scope") or (previous.scope if previous else "")),
    }
    if previous is not None:
        values.update(
            consent_id=previous.consent_id,
            consent_expires_at=previous.consent_expires_at,
            extra=dict(previous.extra),
        )
    values.update(overrides)
    return Credentials(**values)
