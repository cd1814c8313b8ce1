"""The only module that builds requests to a cursor-delta bank (``GET /accounts``, ``GET /transactions/sync``,
``POST /item/remove``)."""

from __future__ import annotations

from typing import Any

from ...base import AccessTokenExpiredError, Credentials, PermanentProviderError, ProviderError, ReauthRequiredError
from ...http import HttpResponse, provider_client
from ..common import BankClient, error_body
from . import constants

__all__ = ["CursorDeltaClient", "cursor_delta_error"]


def cursor_delta_error(response: HttpResponse) -> ProviderError | None:
    if response.status < 400 or response.status >= 500 or response.status == 429:
        return None
    body = error_body(response)
    error = body.get("error")
    code = str((error.get("code") if isinstance(error, dict) else error) or body.get("error_code") or "")
    message = str((error.get("message") if isinstance(error, dict) else "") or body.get("error_message") or "")
    detail = f"[{code or response.status}] {message} (request {response.request_id})"
    if code in constants.REAUTH_ERROR_CODES:
        return ReauthRequiredError(f"re-authorisation needed: {detail}", code="consent_invalid")
    if response.status == 401:
        return AccessTokenExpiredError(f"access token refused: {detail}")
    return PermanentProviderError(f"refused by the bank: {detail}", code=f"http_{response.status}")


class CursorDeltaClient(BankClient):
    def get(self, path: str, credentials: Credentials, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return (
            provider_client()
            .request(
                "GET",
                self.api_base + path,
                params=params,
                headers={"Authorization": f"Bearer {credentials.access_token}"},
                error_mapper=cursor_delta_error,
            )
            .json_object()
        )

    def accounts(self, credentials: Credentials) -> dict[str, Any]:
        return self.get("/accounts", credentials)

    def numbers(self, credentials: Credentials) -> dict[str, Any]:
        """Full account (and routing) numbers of the deposit accounts: ``GET /numbers``."""
        return self.get("/numbers", credentials)

    def transactions_sync(self, credentials: Credentials, *, cursor: str, count: int) -> dict[str, Any]:
        params: dict[str, Any] = {"count": count}
        if cursor:
            params["cursor"] = cursor
        return self.get("/transactions/sync", credentials, params)

    def item_remove(self, credentials: Credentials) -> None:
        """End the authorization (the "item") behind ``credentials``; the bank revokes its tokens."""
        provider_client().request(
            "POST",
            self.api_base + "/item/remove",
            headers={"Authorization": f"Bearer {credentials.access_token}"},
            error_mapper=cursor_delta_error,
        )
