"""A TPP's registered public keys for ``private_key_jwt``: inline (``Application.jwks``) or at its ``jwks_uri``.

A ``jwks_uri`` is a URL a third party chose that we fetch from inside our network, so it goes through the same
guard as webhook URLs (``providers.destinations``): ``https`` only and public addresses only outside local/test
runs, checked at registration and again at every fetch, which connects to the address it just checked (pinned).
A fetch has a time limit (``JWKS_URI_TIMEOUT_SECONDS``), a size limit (``JWKS_URI_MAX_BYTES``), follows no
redirect, and its result is cached (``JWKS_URI_CACHE_SECONDS``) in the shared cache; an assertion naming a ``kid``
the cached set lacks triggers one early re-fetch (key rotation), at most once a minute per URL.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import httpx
from django.core.cache import cache

from providers.destinations import DestinationError, destination_check, destination_resolve

from ..conf import consent_settings
from ..models import Application
from .keys import KeyError_, public_key

__all__ = ["JwksError", "application_jwks", "jwks_fetch", "jwks_uri_validate", "jwks_validate"]

logger = logging.getLogger("consent.fapi")

_USER_AGENT = "open-banking-aggregator/jwks-fetch"
_REFETCH_MIN_SECONDS = 60


class JwksError(ValueError):
    """The JWKS (document or URL) cannot be used; the message says why."""


def jwks_validate(document: Any) -> dict[str, Any]:
    """A JWKS document of public signing keys we can use (at least one), as registered."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
        raise JwksError('A JWKS is a JSON object {"keys": [...]} with at least one key.')
    kids: set[str] = set()
    for index, jwk in enumerate(document["keys"]):
        try:
            public_key(jwk)
        except KeyError_ as exc:
            raise JwksError(f"Key {index}: {exc}.") from None
        if jwk.get("use") not in (None, "sig"):
            raise JwksError(f"Key {index}: use must be 'sig'.")
        kid = jwk.get("kid")
        if kid is not None:
            if not isinstance(kid, str) or kid in kids:
                raise JwksError(f"Key {index}: kid must be a string, unique in the set.")
            kids.add(kid)
    return document


def jwks_uri_validate(url: str) -> str:
    try:
        return destination_check(url)
    except DestinationError as exc:
        raise JwksError(str(exc)) from exc


def _cache_key(url: str) -> str:
    return "fapi-jwks:" + hashlib.sha256(url.encode()).hexdigest()


def jwks_fetch(url: str, *, client: httpx.Client | None = None) -> dict[str, Any]:
    """Fetch and validate the JWKS at ``url`` now (SSRF guard, pinned address, time and size limits)."""
    limit = int(consent_settings.JWKS_URI_MAX_BYTES)
    timeout = float(consent_settings.JWKS_URI_TIMEOUT_SECONDS)
    try:
        pinned = destination_resolve(url)
    except DestinationError as exc:
        raise JwksError(f"jwks_uri refused: {exc}") from exc
    headers = {"Host": pinned.host, "Accept": "application/json", "User-Agent": _USER_AGENT}
    own = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=False)
    try:
        with http.stream("GET", pinned.url, headers=headers, extensions={"sni_hostname": pinned.host}) as response:
            if response.status_code != 200:
                raise JwksError(f"jwks_uri answered HTTP {response.status_code}.")
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > limit:
                    raise JwksError(f"jwks_uri answered more than {limit} bytes.")
    except httpx.HTTPError as exc:
        raise JwksError(f"jwks_uri could not be fetched ({type(exc).__name__}).") from exc
    finally:
        if own:
            http.close()
    try:
        document = json.loads(bytes(body))
    except ValueError as exc:
        raise JwksError("jwks_uri did not answer JSON.") from exc
    return jwks_validate(document)


def _cached_fetch(url: str, *, refresh: bool) -> dict[str, Any]:
    key = _cache_key(url)
    try:
        cached = None if refresh else cache.get(key)
    except Exception:
        cached = None
    if cached is not None:
        return cached
    document = jwks_fetch(url)
    try:
        cache.set(key, document, timeout=int(consent_settings.JWKS_URI_CACHE_SECONDS))
    except Exception:
        logger.warning("JWKS cache unavailable; %s fetched uncached", url)
    return document


def application_jwks(application: Application, *, missing_kid: str | None = None) -> list[dict[str, Any]]:
    """The application's public keys (JWK dicts). With ``missing_kid`` (a ``kid`` an assertion named that the
    keys returned last time lacked), a ``jwks_uri`` is fetched again, at most once a minute."""
    if application.jwks:
        return list(application.jwks.get("keys", []))
    if not application.jwks_uri:
        return []
    refresh = False
    if missing_kid is not None:
        try:
            refresh = bool(cache.add(_cache_key(application.jwks_uri) + ":refetch", 1, timeout=_REFETCH_MIN_SECONDS))
        except Exception:
            refresh = False
        if not refresh:
            return []
    return list(_cached_fetch(application.jwks_uri, refresh=refresh).get("keys", []))
