"""The client side of the DPoP variant of ``python -m benchmarks api``: proofs made before each timed block.

A DPoP client signs one proof per request (``jti``, ``iat``, ``htm``, ``htu``, ``ath``, the server's ``nonce``).
Signing is the client's cost, not the server's: the proofs of a block are made just before it (their ``iat`` stays
well inside the server's window) so the timed requests measure what the server spends on them.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["DPoPBench"]


class DPoPBench:
    def __init__(self, private_jwk: dict[str, Any], token: str) -> None:
        from joserfc.jwk import JWKRegistry

        self.key = JWKRegistry.import_key(private_jwk)
        self.public = self.key.as_dict(private=False)
        self.token = token
        self.ath = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
        self.nonce: str | None = None

    def proof(self, url: str, method: str = "GET") -> str:
        from joserfc import jwt

        parts = urlsplit(url)
        claims = {"jti": secrets.token_urlsafe(16), "htm": method, "iat": int(time.time()), "ath": self.ath,
                  "htu": urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))}  # fmt: skip
        if self.nonce:
            claims["nonce"] = self.nonce
        return jwt.encode({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public}, claims, self.key)

    def headers(self, url: str) -> dict[str, str]:
        return {"Authorization": f"DPoP {self.token}", "DPoP": self.proof(url)}

    def fetch_nonce(self, url: str) -> None:
        """The server's current nonce (a request without one is answered ``use_dpop_nonce`` + ``DPoP-Nonce``)."""
        import httpx

        self.nonce = None
        response = httpx.get(url, headers=self.headers(url), timeout=30)
        self.nonce = response.headers.get("DPoP-Nonce") or None

    def block(self, url: str, n: int) -> list[dict[str, str]]:
        """``n`` requests' headers, each with its own proof, made now."""
        self.fetch_nonce(url)
        return [self.headers(url) for _ in range(n)]
