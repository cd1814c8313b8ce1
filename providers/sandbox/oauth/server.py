"""One authlib authorization server per sandbox bank.

Built on ``authlib.integrations.django_oauth2.AuthorizationServer`` with authlib's own grants (authorization
code + RFC 7636 PKCE, rotating refresh tokens, client credentials for albion). Only the storage hooks are ours:
clients, codes and tokens live in this app's models, scoped by bank, and all lifetimes use the sandbox clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from authlib.common.security import generate_token
from authlib.integrations.django_oauth2 import AuthorizationServer
from authlib.integrations.django_oauth2.requests import DjangoOAuth2Payload, DjangoOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from django.conf import settings
from django.core.cache import cache as django_cache
from django.http import HttpRequest

from ...client_keys import sandbox_client_public_jwks
from ...registry import sandbox_clients
from ..bankdata import get_user, sandbox_now
from ..models import SandboxAuthorizationCode, SandboxClient, SandboxToken
from . import consents, dialects

__all__ = [
    "ACCESS_TOKEN_SECONDS",
    "BANK_OAUTH",
    "EXPIRED_USER_ACCESS_TOKEN_SECONDS",
    "PRIVATE_KEY_JWT_BANKS",
    "PSU",
    "SandboxClientAssertion",
    "oauth_request_from_params",
    "server_for",
    "token_auth_methods",
]

ACCESS_TOKEN_SECONDS = 600  # 10 minutes of sandbox time
EXPIRED_USER_ACCESS_TOKEN_SECONDS = 120  # the ``expired`` test user: 2 minutes, and refresh is refused

# What each bank's authorization server offers (also published in its RFC 8414 metadata).
BANK_OAUTH: dict[str, dict] = {
    "albion": {"grant_types": ["authorization_code", "refresh_token", "client_credentials"], "pkce_required": False},
    "rhein": {"grant_types": ["authorization_code", "refresh_token"], "pkce_required": False},
    "liberty": {"grant_types": ["authorization_code", "refresh_token"], "pkce_required": True},
}
TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
# OBIE's FAPI profile: albion also takes private_key_jwt (RFC 7523 §2.2) from the clients registered for it.
PRIVATE_KEY_JWT_BANKS = frozenset({"albion"})


def token_auth_methods(bank: str) -> list[str]:
    return [*TOKEN_AUTH_METHODS, "private_key_jwt"] if bank in PRIVATE_KEY_JWT_BANKS else list(TOKEN_AUTH_METHODS)


class SandboxClientAssertion(JWTBearerClientAssertion):
    """``private_key_jwt`` at a sandbox bank: the assertion's ``aud`` is the bank's issuer or its token endpoint,
    its ``jti`` is used once (the cache), and the key is the public half of the sandbox client key
    (``providers.client_keys``) for the demo clients registered with ``token_endpoint_auth_method:
    private_key_jwt`` in ``fixtures/sandbox/clients.json``."""

    def __init__(self, bank: str) -> None:
        super().__init__(validate_jti=True, leeway=10)
        self.bank = bank
        self._audiences: list[str] = []

    def __call__(self, query_client, request):  # type: ignore[no-untyped-def]
        token_url = request.uri.split("?", 1)[0]
        self._audiences = [token_url.rsplit("/oauth/token", 1)[0], token_url]
        return super().__call__(query_client, request)

    def get_audiences(self):  # type: ignore[no-untyped-def]
        return self._audiences

    def resolve_client_public_key(self, client):  # type: ignore[no-untyped-def]
        registered = sandbox_clients().get(self.bank, {})
        if registered.get("client_id") != client.client_id or registered.get("token_endpoint_auth_method") != (
            "private_key_jwt"
        ):
            raise InvalidClientError(description="This client has no key registered for private_key_jwt.")
        return sandbox_client_public_jwks()

    def validate_jti(self, claims, jti):  # type: ignore[no-untyped-def]
        return bool(django_cache.add(f"sandbox-client-jti:{self.bank}:{claims['sub']}:{jti}", 1, timeout=600))


@dataclass(frozen=True)
class PSU:
    """The bank customer who approved a consent (authlib's ``grant_user``)."""

    username: str
    consent_id: str


def _now_ts() -> int:
    return int(sandbox_now().timestamp())


class _SandboxDjangoRequest(DjangoOAuth2Request):
    """authlib refuses plain-http URIs outside loopback; the sandbox also runs behind ``testserver`` and plain
    http in local networks, so transport security is left to the deployment (production uses HTTPS)."""

    def __init__(self, request: HttpRequest) -> None:
        if request.is_secure() or getattr(settings, "IS_PRODUCTION", False):
            super().__init__(request)
            return
        OAuth2Request.__init__(self, request.method, "https://sandbox.invalid/", headers=request.headers)
        self.uri = request.build_absolute_uri()
        self.payload = DjangoOAuth2Payload(request)
        self._request = request


class _StoredRequest(OAuth2Request):
    """An authorization request replayed from the session (the approve step happens pages later)."""

    def __init__(self, params: dict[str, str]) -> None:
        super().__init__("GET", "https://sandbox.invalid/authorize")
        self.payload = BasicOAuth2Payload(dict(params))

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return {}


def oauth_request_from_params(params: dict[str, str]) -> OAuth2Request:
    return _StoredRequest(params)


class SandboxCodeChallenge(CodeChallenge):
    """PKCE with S256 only; when ``required`` every authorization request must carry a challenge."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):  # type: ignore[no-untyped-def]
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if self.required and not challenge:
            raise InvalidRequestError("This bank requires PKCE: send code_challenge with code_challenge_method=S256.")
        if challenge and method != "S256":
            raise InvalidRequestError("Unsupported 'code_challenge_method': use S256.")
        return super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def save_authorization_code(self, code, request):  # type: ignore[no-untyped-def]
        data = request.payload.data
        SandboxAuthorizationCode.objects.create(
            bank=self.server.bank,
            code=code,
            client=request.client,
            consent_id=request.user.consent_id,
            username=request.user.username,
            redirect_uri=data.get("redirect_uri") or "",
            scope=request.scope or "",
            code_challenge=data.get("code_challenge") or "",
            code_challenge_method=data.get("code_challenge_method") or "",
            issued_at=_now_ts(),
        )

    def query_authorization_code(self, code, client):  # type: ignore[no-untyped-def]
        item = (
            SandboxAuthorizationCode.objects.select_related("consent")
            .filter(bank=self.server.bank, code=code, client=client)
            .first()
        )
        if item is None or item.is_expired():
            return None
        return item

    def delete_authorization_code(self, authorization_code):  # type: ignore[no-untyped-def]
        authorization_code.delete()

    def authenticate_user(self, authorization_code):  # type: ignore[no-untyped-def]
        if not consents.consent_is_active(consent=authorization_code.consent):
            return None
        return PSU(authorization_code.username, authorization_code.consent_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotation: every use issues a new refresh token and kills the old one (and its access token)."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):  # type: ignore[no-untyped-def]
        token = (
            SandboxToken.objects.select_related("consent", "client")
            .filter(bank=self.server.bank, refresh_token=refresh_token)
            .first()
        )
        if token is None or token.refresh_token_revoked or token.consent is None:
            return None
        user = get_user(token.username)
        if user is None or user.behaviour == "expired":
            return None  # the ``expired`` test user: refresh always fails → the TPP must re-authorise
        if not consents.consent_is_active(consent=token.consent):
            return None
        return token

    def authenticate_user(self, refresh_token):  # type: ignore[no-untyped-def]
        return PSU(refresh_token.username, refresh_token.consent_id)

    def revoke_old_credential(self, refresh_token):  # type: ignore[no-untyped-def]
        SandboxToken.objects.filter(pk=refresh_token.pk).update(refresh_token_revoked=True, access_token_revoked=True)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS


class BankAuthorizationServer(AuthorizationServer):
    """authlib's Django authorization server, scoped to one bank's clients, codes and tokens."""

    def __init__(self, bank: str) -> None:
        self.bank = bank
        super().__init__(SandboxClient, SandboxToken)

    def load_config(self, config):  # type: ignore[no-untyped-def]
        self.config = {}
        self.scopes_supported = list(dialects.BANK_SCOPES[self.bank])
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **kw: generate_token(42),
                refresh_token_generator=lambda **kw: generate_token(48),
                expires_generator=lambda client, grant_type: ACCESS_TOKEN_SECONDS,
            ),
        )

    def validate_requested_scope(self, scope):  # type: ignore[no-untyped-def]
        """The bank's own scopes, and its standard's scope forms (``providers.sandbox.oauth.dialects``)."""
        if not dialects.scope_is_supported(self.bank, scope):
            raise InvalidScopeError()

    def authenticate_client(self, request, methods, endpoint="token"):  # type: ignore[no-untyped-def]
        # authlib's grants list the secret methods only; a bank that takes private_key_jwt adds it to each.
        if self.bank in PRIVATE_KEY_JWT_BANKS:
            methods = [*methods, SandboxClientAssertion.CLIENT_AUTH_METHOD]
        return super().authenticate_client(request, methods, endpoint)

    def query_client(self, client_id):  # type: ignore[no-untyped-def]
        return SandboxClient.objects.filter(bank=self.bank, client_id=client_id).first()

    def save_token(self, token, request):  # type: ignore[no-untyped-def]
        user: PSU | None = request.user if isinstance(request.user, PSU) else None
        if user is not None:
            sandbox_user = get_user(user.username)
            if sandbox_user is not None and sandbox_user.behaviour == "expired":
                token["expires_in"] = EXPIRED_USER_ACCESS_TOKEN_SECONDS
        return SandboxToken.objects.create(
            bank=self.bank,
            client=request.client,
            consent_id=user.consent_id if user else None,
            username=user.username if user else "",
            token_type=token.get("token_type", "Bearer"),
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            scope=token.get("scope", ""),
            issued_at=_now_ts(),
            expires_in=token.get("expires_in", ACCESS_TOKEN_SECONDS),
        )

    def create_oauth2_request(self, request):  # type: ignore[no-untyped-def]
        if isinstance(request, OAuth2Request):
            return request
        return _SandboxDjangoRequest(request)

    def send_signal(self, name, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


@cache
def server_for(bank: str) -> BankAuthorizationServer:
    """The authorization server of ``bank`` (built once per process)."""
    if bank not in BANK_OAUTH:
        raise KeyError(bank)
    server = BankAuthorizationServer(bank)
    server.register_grant(AuthorizationCodeGrant, [SandboxCodeChallenge(required=BANK_OAUTH[bank]["pkce_required"])])
    server.register_grant(RefreshTokenGrant)
    if "client_credentials" in BANK_OAUTH[bank]["grant_types"]:
        server.register_grant(ClientCredentialsGrant)
    if bank in PRIVATE_KEY_JWT_BANKS:
        server.register_client_auth_method(SandboxClientAssertion.CLIENT_AUTH_METHOD, SandboxClientAssertion(bank))
    return server
