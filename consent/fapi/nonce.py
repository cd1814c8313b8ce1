"""DPoP server nonces (RFC 9449 §8, §9) that need no storage: an HMAC of the current time window.

A nonce is valid in the window it was made in and the next one, so a client holding one is never refused at a
window boundary; when a client sends the previous window's nonce, the response carries the current one
(``DPoP-Nonce``) so it can switch before the old one ends. Every process with the same ``SECRET_KEY`` issues and
accepts the same nonces.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from django.conf import settings

from ..conf import consent_settings

__all__ = ["nonce_check", "nonce_current"]

_cache: dict[tuple[str, int], str] = {}


def _window(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // max(1, int(consent_settings.DPOP_NONCE_LIFETIME_SECONDS)))


def _nonce_for(window: int) -> str:
    key = (settings.SECRET_KEY, window)
    value = _cache.get(key)
    if value is None:
        mac = hmac.new(settings.SECRET_KEY.encode(), f"dpop-nonce:{window}".encode(), hashlib.sha256).digest()
        value = base64.urlsafe_b64encode(mac[:24]).rstrip(b"=").decode()
        if len(_cache) > 16:
            _cache.clear()
        _cache[key] = value
    return value


def nonce_current() -> str:
    return _nonce_for(_window())


def nonce_check(value: object) -> str | None:
    """``"fresh"`` for the current window's nonce, ``"stale"`` for the previous one's, ``None`` otherwise."""
    if not isinstance(value, str):
        return None
    window = _window()
    if hmac.compare_digest(value, _nonce_for(window)):
        return "fresh"
    if hmac.compare_digest(value, _nonce_for(window - 1)):
        return "stale"
    return None
