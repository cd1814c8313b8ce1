"""The only module that builds requests to an OBIE v3.1.11 bank (Account and Transaction API)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from ...base import Credentials, PermanentProviderError, ProviderError, ReauthRequiredError
from ...http import HttpResponse, provider_client
from ...oauth import token_request
from ..common import BankClient, error_body, refusal_error
from . import constants

__all__ = ["OBIEClient"]


def obie_error(response: HttpResponse) -> ProviderError | None:
    """Map an ``OBErrorResponse1`` to the taxonomy (None: fall back to the default mapping)."""
    if response.status < 400 or response.status >= 500 or response.status == 429:
        return None
    body = error_body(response)
    codes = {str(e.get("ErrorCode", "")) for e in body.get("Errors", []) if isinstance(e, dict)}
    message = str(body.get("Message", "")) or f"HTTP {response.status}"
    detail = f"{message} [{', '.join(sorted(codes))}] (x-fapi-interaction-id {response.request_id})"
    if codes & constants.REAUTH_ERROR_CODES:
        return ReauthRequiredError(f"consent no longer valid: {detail}", code="consent_invalid")
    return refusal_error(response, detail)


class OBIEClient(BankClient):
    """OBIE (FAPI): with a ``client_signing_key`` (a private JWK: the institution's configuration, or the
    sandbox's generated key) the client authenticates with ``private_key_jwt`` where the bank offers it."""

    default_api_prefix = constants.API_PREFIX

    def __init__(self, *, client_signing_key: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client_signing_key = client_signing_key

    @classmethod
    def from_config(cls, config: dict[str, Any], **options: Any) -> OBIEClient:
        return super().from_config(config, client_signing_key=config.get("client_signing_key"), **options)

    # --- OAuth -------------------------------------------------------------------------------------
    def token(self, form: dict[str, str]) -> dict[str, Any]:
        return token_request(
            self.server(),
            client_id=self.client_id,
            client_secret=self.client_secret,
            form=form,
            signing_key=self.client_signing_key,
        )

    def client_credentials_token(self) -> str:
        body = self.token({"grant_type": "client_credentials", "scope": constants.CLIENT_CREDENTIALS_SCOPE})
        return str(body["access_token"])

    # --- consents ----------------------------------------------------------------------------------
    def consent_create(
        self, *, token: str, permissions: tuple[str, ...], expires_at: datetime, transactions_from: datetime | None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "Permissions": list(permissions),
            "ExpirationDateTime": expires_at.isoformat(timespec="seconds"),
        }
        if transactions_from is not None:
            data["TransactionFromDateTime"] = transactions_from.isoformat(timespec="seconds")
        response = provider_client().request(
            "POST",
            f"{self.api_base}/account-access-consents",
            json_body={"Data": data, "Risk": {}},
            headers={"Authorization": f"Bearer {token}"},
            error_mapper=obie_error,
        )
        return response.json_object()

    def consent_delete(self, *, token: str, consent_id: str) -> None:
        provider_client().request(
            "DELETE",
            f"{self.api_base}/account-access-consents/{consent_id}",
            headers={"Authorization": f"Bearer {token}"},
            error_mapper=obie_error,
        )

    # --- resources ---------------------------------------------------------------------------------
    def _get(self, url: str, credentials: Credentials, params: dict[str, str] | None = None) -> dict[str, Any]:
        return (
            provider_client()
            .request(
                "GET",
                url,
                params=params,
                headers={"Authorization": f"Bearer {credentials.access_token}"},
                error_mapper=obie_error,
            )
            .json_object()
        )

    def pages(self, path: str, credentials: Credentials, params: dict[str, str] | None = None) -> Iterator[dict]:
        """Every page of a resource, following ``Links.Next`` (absolute URLs) until it is absent."""
        url: str | None = self.api_base + path
        seen: set[str] = set()
        while url:
            body = self._get(url, credentials, params)
            yield body
            params = None  # Links.Next carries the query
            next_url = (body.get("Links") or {}).get("Next") or None
            next_url = urljoin(url, next_url) if next_url else None
            if next_url and next_url in seen:
                raise PermanentProviderError(f"pagination loop at {next_url}", code="pagination_loop")
            if next_url:
                seen.add(next_url)
            url = next_url
