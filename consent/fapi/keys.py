"""JOSE keys for client assertions and DPoP proofs: the algorithm allow-list and a cache of parsed public keys.

Parsing a JWK into a key object costs as much as half a signature check; a DPoP client signs every request with
the same key, so public keys are parsed once and kept (bounded LRU) by their canonical JSON.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from ..conf import consent_settings

__all__ = ["KeyError_", "alg_fits_key", "allowed_algorithms", "public_key"]

# The curves each allowed algorithm may use (FAPI 2.0 §5.4.1: PS256, ES256, EdDSA with Ed25519).
_ALG_KEY = {"PS256": ("RSA", None), "ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519")}
# RSA keys shorter than this are refused (FAPI 2.0 §5.4.1: 2048 bits at least).
_MIN_RSA_BITS = 2048


class KeyError_(ValueError):
    """The JWK is malformed, private, or of a kind we do not accept."""


def allowed_algorithms() -> list[str]:
    return [alg for alg in consent_settings.SIGNING_ALGORITHMS if alg in _ALG_KEY]


def alg_fits_key(alg: str, jwk: dict[str, Any]) -> bool:
    kty, crv = _ALG_KEY.get(alg, (None, None))
    return kty is not None and jwk.get("kty") == kty and (crv is None or jwk.get("crv") == crv)


@lru_cache(maxsize=4096)
def _parsed(canonical: str) -> tuple[Any, str]:
    data = json.loads(canonical)
    try:
        key = JWKRegistry.import_key(data)
    except (JoseError, ValueError, TypeError) as exc:
        raise KeyError_(f"the key cannot be read ({exc})") from None
    if not isinstance(key, ECKey | RSAKey | OKPKey) or key.is_private:
        raise KeyError_("the key must be a public EC, RSA or OKP key")
    if isinstance(key, RSAKey) and key.raw_value.key_size < _MIN_RSA_BITS:
        raise KeyError_(f"RSA keys must have at least {_MIN_RSA_BITS} bits")
    return key, key.thumbprint()


_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def public_key(jwk: Any) -> tuple[Any, str]:
    """(key object, RFC 7638 thumbprint) of a public JWK given as a dict; :class:`KeyError_` otherwise."""
    if not isinstance(jwk, dict) or not isinstance(jwk.get("kty"), str):
        raise KeyError_("the key must be a JWK object")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise KeyError_("the key must not contain private parts")
    try:
        canonical = json.dumps(jwk, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        raise KeyError_("the key must be a JWK object") from None
    return _parsed(canonical)
