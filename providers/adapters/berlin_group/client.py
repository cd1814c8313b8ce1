"""The only module that builds requests to a Berlin Group NextGenPSD2 v1.3.11 bank (AIS)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

from ...base import (
    Credentials,
    PermanentProviderError,
    ProviderError,
    RateLimitedError,
    ReauthRequiredError,
)
from ...http import HttpResponse, parse_retry_after, provider_client
from ..common import BankClient, error_body, refusal_error
from . import constants

__all__ = ["BerlinGroupClient", "berlin_group_error"]


def _seconds_to_utc_midnight() -> float:
    now = datetime.now(tz=UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


def berlin_group_error(response: HttpResponse) -> ProviderError | None:
    """Map ``tppMessages`` errors to the taxonomy (None: fall back to the default mapping)."""
    if response.status < 400 or response.status >= 500:
        return None
    body = error_body(response)
    messages = body.get("tppMessages") or body.get("additionalErrors") or []
    codes = {str(m.get("code", "")) for m in messages if isinstance(m, dict)}
    text = "; ".join(str(m.get("text", "")) for m in messages if isinstance(m, dict) and m.get("text"))
    detail = f"[{', '.join(sorted(codes)) or response.status}] {text} (X-Request-ID {response.request_id})".strip()
    if response.status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if constants.ACCESS_EXCEEDED in codes:
            # frequencyPerDay is spent for today: nothing to gain before the bank's day rolls over.
            return RateLimitedError(
                f"daily access limit reached: {detail}",
                retry_after=retry_after if retry_after is not None else _seconds_to_utc_midnight(),
                code="access_exceeded",
            )
        return RateLimitedError(f"rate limited: {detail}", retry_after=retry_after)
    if codes & constants.REAUTH_CODES:
        return ReauthRequiredError(f"consent no longer valid: {detail}", code="consent_invalid")
    return refusal_error(response, detail)


class BerlinGroupClient(BankClient):
    default_api_prefix = constants.API_PREFIX

    def __init__(
        self, *, base_url: str, client_id: str, client_secret: str, api_prefix: str = "", psu_ip_address: str = ""
    ) -> None:
        super().__init__(base_url=base_url, client_id=client_id, client_secret=client_secret, api_prefix=api_prefix)
        self.psu_ip_address = psu_ip_address

    def resolve(self, current: str, href: str) -> str:
        """An ``href`` from ``_links``: absolute, a path under this bank's root, or (as in the standard's
        examples) a path relative to the API root such as ``/v1/accounts/…``."""
        prefix = urlsplit(self.base_url).path.rstrip("/")
        if href.startswith("/") and prefix and not href.startswith(prefix + "/"):
            return self.base_url + href
        return urljoin(current, href)

    def _headers(self, credentials: Credentials | None = None, consent_id: str = "") -> dict[str, str]:
        headers: dict[str, str] = {}
        if credentials is not None:
            headers["Authorization"] = f"Bearer {credentials.access_token}"
            consent_id = consent_id or credentials.consent_id
        if consent_id:
            headers["Consent-ID"] = consent_id
        if self.psu_ip_address:
            # The user is present: the bank does not count this call against frequencyPerDay.
            headers["PSU-IP-Address"] = self.psu_ip_address
        return headers

    def consent_create(self, *, body: dict[str, Any], redirect_uri: str) -> dict[str, Any]:
        headers = self._headers()
        headers["TPP-Redirect-URI"] = redirect_uri
        headers["TPP-Redirect-Preferred"] = "true"
        response = provider_client().request(
            "POST", f"{self.api_base}/consents", json_body=body, headers=headers, error_mapper=berlin_group_error
        )
        return response.json_object()

    def consent_delete(self, *, consent_id: str, credentials: Credentials | None = None) -> None:
        provider_client().request(
            "DELETE",
            f"{self.api_base}/consents/{consent_id}",
            headers=self._headers(credentials, consent_id),
            error_mapper=berlin_group_error,
        )

    def get(self, url_or_path: str, credentials: Credentials, params: dict[str, str] | None = None) -> dict[str, Any]:
        url = url_or_path if "://" in url_or_path else self.api_base + url_or_path
        return (
            provider_client()
            .request("GET", url, params=params, headers=self._headers(credentials), error_mapper=berlin_group_error)
            .json_object()
        )

    def transaction_pages(
        self, account_id: str, credentials: Credentials, params: dict[str, str]
    ) -> Iterator[dict[str, Any]]:
        """Every page of an account's transactions, following ``_links.next`` until it is absent."""
        url: str | None = f"{self.api_base}/accounts/{account_id}/transactions"
        query: dict[str, str] | None = params
        seen: set[str] = set()
        while url:
            body = self.get(url, credentials, query)
            yield body
            query = None
            report = body.get("transactions") or {}
            link = (report.get("_links") or {}).get("next") or (body.get("_links") or {}).get("next") or {}
            href = link.get("href") if isinstance(link, dict) else link
            next_url = self.resolve(url, href) if href else None
            if next_url and next_url in seen:
                raise PermanentProviderError(f"pagination loop at {next_url}", code="pagination_loop")
            if next_url:
                seen.add(next_url)
            url = next_url
