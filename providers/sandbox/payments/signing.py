"""Detached JWS signatures of the sandbox banks' payment responses (OBIE ``x-jws-signature``).

OBIE signs every PIS response body with a detached JWS (RFC 7515 appendix F: ``header..signature``) carrying
the ``http://openbanking.org.uk/iat``, ``/iss`` and ``/tan`` claims, marked ``crit``. A real ASPSP signs with
PS256 and a key published in the Open Banking directory; the sandbox has no directory, so — like its OIDC
request objects — it signs ``HS256`` with the requesting client's secret (``kid`` = the client id), which the
client can check. Responses to a request with no known client (an invalid token) are signed with a key derived
from the server's ``SECRET_KEY`` (``kid`` ``<bank>-sandbox``), which only the sandbox can check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import orjson
from django.conf import settings

__all__ = ["detached_jws", "verify_detached_jws"]

_TAN = "openbanking.org.uk"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _key(bank: str, client_secret: str) -> bytes:
    if client_secret:
        return client_secret.encode()
    return hmac.new(settings.SECRET_KEY.encode(), f"sandbox-jws:{bank}".encode(), hashlib.sha256).digest()


def detached_jws(body: bytes, *, bank: str, client_id: str = "", client_secret: str = "") -> str:
    """``<protected header>..<signature>`` over ``body`` (HS256)."""
    header = {
        "alg": "HS256",
        "kid": client_id if client_secret else f"{bank}-sandbox",
        "typ": "JOSE",
        "cty": "application/json",
        "http://openbanking.org.uk/iat": int(time.time()),
        "http://openbanking.org.uk/iss": f"{bank}-sandbox",
        "http://openbanking.org.uk/tan": _TAN,
        "crit": ["http://openbanking.org.uk/iat", "http://openbanking.org.uk/iss", "http://openbanking.org.uk/tan"],
    }
    protected = _b64(orjson.dumps(header))
    signing_input = f"{protected}.{_b64(body)}".encode()
    signature = hmac.new(_key(bank, client_secret), signing_input, hashlib.sha256).digest()
    return f"{protected}..{_b64(signature)}"


def verify_detached_jws(signature: str, body: bytes, *, secret: str) -> bool:
    """Whether ``signature`` is an HS256 detached JWS of ``body`` under ``secret`` (for TPPs and tests)."""
    protected, sep, tail = signature.partition("..")
    if not sep or not protected or not tail:
        return False
    expected = hmac.new(secret.encode(), f"{protected}.{_b64(body)}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(_b64(expected), tail)
