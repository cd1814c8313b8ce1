"""What the shared HTTP client hands back: a fully read response, and the default mapping of an HTTP answer to the
error taxonomy (``providers.base``), including ``Retry-After`` in both of its forms."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone

from .base import (
    PermanentProviderError,
    ProviderError,
    RateLimitedError,
    ReauthRequiredError,
    TransientProviderError,
)

__all__ = ["HttpResponse", "error_for_response", "parse_retry_after", "path_of"]


@dataclass(frozen=True)
class HttpResponse:
    """A fully read response: status, headers (lower-case keys), body bytes and the request id used."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str
    request_id: str
    method: str = "GET"
    _json_cache: list = field(default_factory=list, repr=False, compare=False)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status < 400 and "location" in self.headers

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    def json(self) -> Any:
        """The body as JSON; a malformed or truncated body is a ``TransientProviderError`` (never partial data)."""
        if not self._json_cache:
            try:
                self._json_cache.append(json.loads(self.content))
            except (ValueError, UnicodeDecodeError) as exc:
                raise TransientProviderError(
                    f"malformed JSON from {self.method} {path_of(self.url)} (request {self.request_id})",
                    code="malformed_response",
                ) from exc
        return self._json_cache[0]

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise TransientProviderError(
                f"expected a JSON object from {path_of(self.url)} (request {self.request_id})",
                code="malformed_response",
            )
        return body


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def error_for_response(response: HttpResponse) -> ProviderError | None:
    """The default mapping of a response to the error taxonomy (None for 2xx)."""
    status = response.status
    where = f"{response.method} {path_of(response.url)} → {status} (request {response.request_id})"
    if 200 <= status < 300:
        return None
    if status == 429:
        return RateLimitedError(
            f"rate limited: {where}", retry_after=parse_retry_after(response.headers.get("retry-after"))
        )
    if status == 401:
        return ReauthRequiredError(f"unauthorised: {where}", code="unauthorised")
    if status >= 500:
        return TransientProviderError(f"bank error: {where}", code=f"http_{status}")
    if 300 <= status < 400:
        return PermanentProviderError(f"unexpected redirect: {where}", code="unexpected_redirect")
    return PermanentProviderError(f"refused: {where}", code=f"http_{status}")
