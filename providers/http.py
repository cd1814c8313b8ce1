"""The one place that talks HTTP to banks (the only module importing ``httpx``).

``provider_client()`` returns a process-wide pooled client for bank APIs; ``browser_session()`` a short-lived
client *with* cookies (to drive a sandbox bank's login pages server-side). Both:

* use explicit connect/read timeouts from ``settings.AGGREGATOR`` (``HTTP_CONNECT_TIMEOUT``/``HTTP_READ_TIMEOUT``);
* never follow redirects silently (a 3xx is returned to the caller that asked for it, an error otherwise);
* send a ``User-Agent`` and a fresh request id as both ``x-fapi-interaction-id`` (OBIE) and ``X-Request-ID``
  (Berlin Group) on every call, and log it with the method, URL path, status and duration (never headers,
  query strings or bodies: those carry tokens and codes);
* cap the response body at ``HTTP_MAX_RESPONSE_BYTES``;
* retry with tenacity, bounded by ``HTTP_MAX_RETRIES``, with exponential backoff and jitter, honouring
  ``Retry-After`` (up to ``HTTP_MAX_RETRY_AFTER`` seconds; a longer wait is raised to the caller instead).
  Idempotent methods retry on timeouts, transport errors, 5xx and 429; ``POST`` only on 429 and on
  connection failures (the request never reached the bank), so a consent or token is never created twice.

Failures become the ``providers.base`` taxonomy: timeouts, transport errors, 5xx and malformed or truncated
JSON → ``TransientProviderError``; 429 → ``RateLimitedError(retry_after)``; 401 → ``ReauthRequiredError``;
other 4xx and unexpected redirects → ``PermanentProviderError``. Adapters refine this with an
``error_mapper`` (their dialect's error codes) that runs first.
"""

from __future__ import annotations

import http.cookiejar
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from .base import (
    PermanentProviderError,
    ProviderError,
    RateLimitedError,
    TransientProviderError,
)
from .conf import provider_settings
from .metrics import bank_call_observe
from .responses import HttpResponse, error_for_response, parse_retry_after, path_of

__all__ = [
    "USER_AGENT",
    "BrowserSession",
    "HttpResponse",
    "ProviderClient",
    "browser_session",
    "error_for_response",
    "parse_retry_after",
    "provider_client",
    "reset_provider_client",
]

logger = logging.getLogger("providers.http")

USER_AGENT = "open-banking-aggregator/0.1 (+https://github.com/; adapters)"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})

ErrorMapper = Callable[["HttpResponse"], ProviderError | None]

# tenacity's sleep, through a module attribute so tests can observe the waits without waiting.
_sleep: Callable[[float], None] = time.sleep


class _RetryPolicy:
    """tenacity wait: the bank's ``Retry-After`` when it gave one, else exponential backoff with jitter."""

    def __init__(self) -> None:
        self.backoff = wait_exponential_jitter(
            multiplier=provider_settings.HTTP_RETRY_INITIAL, max=provider_settings.HTTP_RETRY_MAX_WAIT, jitter=0.5
        )

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return exc.retry_after
        return self.backoff(state)


class _ConnectFailed(TransientProviderError):
    """The request never reached the bank (safe to retry even for POST)."""

    code = "connect_failed"


def _retryable(method: str) -> Callable[[BaseException], bool]:
    max_retry_after = float(provider_settings.HTTP_MAX_RETRY_AFTER)

    def decide(exc: BaseException) -> bool:
        if isinstance(exc, RateLimitedError):
            return exc.retry_after is None or exc.retry_after <= max_retry_after
        if isinstance(exc, _ConnectFailed):
            return True
        if method not in IDEMPOTENT_METHODS:
            return False
        return isinstance(exc, TransientProviderError) and exc.code != "token_expired"

    return decide


def _build_client(*, cookies: bool) -> httpx.Client:
    timeout = httpx.Timeout(
        connect=float(provider_settings.HTTP_CONNECT_TIMEOUT),
        read=float(provider_settings.HTTP_READ_TIMEOUT),
        write=float(provider_settings.HTTP_READ_TIMEOUT),
        pool=float(provider_settings.HTTP_CONNECT_TIMEOUT),
    )
    jar = http.cookiejar.CookieJar()
    if not cookies:
        # A shared API client must never carry one bank session's cookies into another's calls.
        jar.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        limits=httpx.Limits(max_connections=int(provider_settings.HTTP_MAX_CONNECTIONS), max_keepalive_connections=20),
        cookies=jar,
    )


class ProviderClient:
    """A thin, retrying wrapper over one ``httpx.Client``."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        error_mapper: ErrorMapper | None = None,
        allow_redirects: bool = False,
        raise_for_status: bool = True,
        retries: int | None = None,
        expect_json: bool = True,
    ) -> HttpResponse:
        """Send one request (with bounded retries) and return the read response, or raise a ``ProviderError``.

        ``allow_redirects``: return a 3xx to the caller instead of treating it as an error (redirects are still
        never followed). ``raise_for_status=False`` returns 4xx/5xx responses too (after retries).
        ``expect_json``: a 2xx body is parsed inside the retry loop, so a truncated or malformed body is retried
        like any transient failure (idempotent methods) and never reaches the caller as partial data.
        """
        method = method.upper()
        attempts = 1 + (int(provider_settings.HTTP_MAX_RETRIES) if retries is None else retries)
        request_id = str(uuid.uuid4())
        retrying = Retrying(
            sleep=lambda seconds: _sleep(seconds),
            stop=stop_after_attempt(attempts),
            wait=_RetryPolicy(),
            retry=retry_if_exception(_retryable(method)),
            reraise=True,
            before_sleep=lambda state: logger.warning(
                "bank call retry %s %s attempt=%s request_id=%s error=%s",
                method,
                path_of(url),
                state.attempt_number,
                request_id,
                state.outcome.exception() if state.outcome else "",
            ),
        )
        for attempt in retrying:
            with attempt:
                response = self._send_once(
                    method,
                    url,
                    params=params,
                    json_body=json_body,
                    data=data,
                    headers=headers,
                    auth=auth,
                    request_id=request_id,
                )
                ok_redirect = allow_redirects and 300 <= response.status < 400
                error = None if ok_redirect else (error_mapper(response) if error_mapper else None)
                error = error or (None if ok_redirect else error_for_response(response))
                if error is not None and (raise_for_status or isinstance(error, TransientProviderError)):
                    raise error
                if expect_json and 200 <= response.status < 300 and response.content.strip():
                    response.json()  # raises TransientProviderError(malformed_response); cached for the caller
        return response

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        json_body: Any,
        data: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        auth: tuple[str, str] | None,
        request_id: str,
    ) -> HttpResponse:
        all_headers = {"x-fapi-interaction-id": request_id, "X-Request-ID": request_id}
        all_headers.update(headers or {})
        max_bytes = int(provider_settings.HTTP_MAX_RESPONSE_BYTES)
        started = time.monotonic()
        status: int | str = "-"
        try:
            with self._client.stream(
                method, url, params=params, json=json_body, data=data, headers=all_headers, auth=auth
            ) as resp:
                status = resp.status_code
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise PermanentProviderError(
                        f"response too large ({declared} bytes) from {path_of(url)}", code="response_too_large"
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise PermanentProviderError(
                            f"response larger than {max_bytes} bytes from {path_of(url)}", code="response_too_large"
                        )
                    chunks.append(chunk)
                return HttpResponse(
                    status=resp.status_code,
                    headers={k.lower(): v for k, v in resp.headers.items()},
                    content=b"".join(chunks),
                    url=str(resp.url),
                    request_id=request_id,
                    method=method,
                )
        except httpx.ConnectError as exc:
            status = "connect"
            raise _ConnectFailed(f"cannot connect to {path_of(url)}: {exc}") from exc
        except httpx.TimeoutException as exc:
            status = "timeout"
            raise TransientProviderError(f"timeout calling {path_of(url)}", code="timeout") from exc
        except httpx.TransportError as exc:
            # Includes a body cut short of its Content-Length (RemoteProtocolError): never partial data.
            status = "transport" if status == "-" else status
            raise TransientProviderError(f"transport error calling {path_of(url)}: {exc}", code="transport") from exc
        finally:
            elapsed = time.monotonic() - started
            bank_call_observe(url=url, status=status, seconds=elapsed)
            logger.info(
                "bank call %s %s status=%s ms=%d request_id=%s",
                method,
                path_of(url),
                status,
                elapsed * 1000,
                request_id,
            )


_shared: ProviderClient | None = None
_shared_lock = threading.Lock()


def provider_client() -> ProviderClient:
    """The process-wide pooled client for bank API calls (no cookies kept)."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = ProviderClient(_build_client(cookies=False))
    return _shared


def reset_provider_client() -> None:
    """Drop the shared client (tests that change timeouts; after fork)."""
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.close()
        _shared = None


class BrowserSession(ProviderClient):
    """A cookie-keeping client for driving a bank's HTML login pages; use as a context manager."""

    def __enter__(self) -> BrowserSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def cookie_names(self) -> list[str]:
        return [cookie.name for cookie in self._client.cookies.jar]


def browser_session() -> BrowserSession:
    session = BrowserSession(_build_client(cookies=True))
    session._client.headers["Accept"] = "text/html,application/json;q=0.9"
    return session
