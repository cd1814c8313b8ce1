"""What the adapters share: strict parsing of money, dates and datetimes (a bad value is an error), the base of
their client modules (bank root, client registration, OAuth server and token requests), and the OAuth 2.0 code
exchange and refresh every dialect here performs the same way."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, Self, TypeVar

from ..base import (
    AccessTokenExpiredError,
    AuthorizationRequest,
    BankAdapter,
    Credentials,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from ..http import HttpResponse
from ..oauth import OAuthServer, oauth_discover, token_request, tokens_to_credentials

__all__ = [
    "BankClient",
    "OAuthBankAdapter",
    "as_currency",
    "as_date",
    "as_datetime",
    "as_decimal",
    "error_body",
    "malformed",
    "refusal_error",
    "stable_id",
]


def malformed(message: str) -> TransientProviderError:
    return TransientProviderError(message, code="malformed_response")


def as_decimal(value: Any, what: str = "amount") -> Decimal:
    """A ``Decimal`` from a JSON string or number.

    A JSON number arrives as a float; its shortest round-trip ``repr`` is exactly the digits the bank sent (for
    up to 15 significant digits), so ``Decimal(repr(x))`` recovers them without binary noise.
    """
    if isinstance(value, bool) or value is None:
        raise malformed(f"{what} missing or not a number: {value!r}")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        result = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise malformed(f"{what} is not a decimal: {value!r}") from exc
    if not result.is_finite():
        raise malformed(f"{what} is not finite: {value!r}")
    return result


def as_currency(value: Any, what: str = "currency") -> str:
    code = str(value or "").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise malformed(f"{what} is not an ISO 4217 code: {value!r}")
    return code


def as_datetime(value: Any, what: str = "datetime") -> datetime:
    """An aware UTC datetime from ISO 8601; a naive value is taken as UTC (some banks omit the offset)."""
    if not isinstance(value, str) or not value:
        raise malformed(f"{what} missing")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise malformed(f"{what} is not ISO 8601: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def as_date(value: Any, what: str = "date") -> date:
    if not isinstance(value, str) or not value:
        raise malformed(f"{what} missing")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise malformed(f"{what} is not an ISO date: {value!r}") from exc


def stable_id(*parts: Any) -> str:
    """A deterministic id for records a bank sends without one (hash of their identifying fields)."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return "h:" + digest[:40]


def error_body(response: HttpResponse) -> dict[str, Any]:
    """The JSON object of a refusal, for an error mapper; ``{}`` when the bank sent none."""
    try:
        return response.json_object()
    except ProviderError:
        return {}


def refusal_error(response: HttpResponse, detail: str) -> ProviderError:
    """A 4xx refusal that is not about the consent: 401 → the access token was refused (refresh and retry),
    403 → forbidden, anything else → refused; the last two are permanent."""
    if response.status == 401:
        return AccessTokenExpiredError(f"access token refused: {detail}")
    if response.status == 403:
        return PermanentProviderError(f"forbidden by the bank: {detail}", code="forbidden")
    return PermanentProviderError(f"refused by the bank: {detail}", code=f"http_{response.status}")


class BankClient:
    """The base of each dialect's client module: the bank's root (for OAuth discovery), its API base
    (``default_api_prefix`` unless the institution names another) and this aggregator's client registration."""

    default_api_prefix = ""

    def __init__(self, *, base_url: str, client_id: str, client_secret: str, api_prefix: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.api_base = self.base_url + (api_prefix or self.default_api_prefix)
        self.client_id = client_id
        self.client_secret = client_secret

    @classmethod
    def from_config(cls, config: dict[str, Any], **options: Any) -> Self:
        """The client for one institution's adapter configuration (``options``: the dialect's own arguments)."""
        return cls(
            base_url=config["base_url"],
            client_id=config.get("client_id", ""),
            client_secret=config.get("client_secret", ""),
            api_prefix=config.get("api_prefix", ""),
            **options,
        )

    def server(self) -> OAuthServer:
        return oauth_discover(self.base_url)

    def token(self, form: dict[str, str]) -> dict[str, Any]:
        return token_request(self.server(), client_id=self.client_id, client_secret=self.client_secret, form=form)


ClientT = TypeVar("ClientT", bound=BankClient)


class OAuthBankAdapter(BankAdapter, Generic[ClientT]):
    """A dialect whose bank authorises with the OAuth 2.0 authorization code flow (PKCE when supported) and
    rotating refresh tokens: the client, the code exchange and the refresh. The consent a bank-side consent
    object gives (id, expiry) is carried from ``start_authorization``'s ``AuthorizationRequest`` into the
    credentials."""

    client_class: type[ClientT]

    @property
    def client(self) -> ClientT:
        return self.client_class.from_config(self.config)

    def exchange_code(self, *, code: str, redirect_uri: str, auth: AuthorizationRequest) -> Credentials:
        body = self.client.token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": auth.code_verifier,
            }
        )
        expires = auth.extra.get("consent_expires_at")
        return tokens_to_credentials(
            body, consent_id=auth.consent_id, consent_expires_at=as_datetime(expires) if expires else None
        )

    def refresh(self, credentials: Credentials) -> Credentials:
        body = self.client.token({"grant_type": "refresh_token", "refresh_token": credentials.refresh_token})
        return tokens_to_credentials(body, previous=credentials)
