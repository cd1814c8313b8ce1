"""DPoP proofs (RFC 9449 §4.3) at the token endpoint and the API.

A proof is a JWT in the ``DPoP`` header, signed by the key it carries (``jwk``) and checked in this order:

1. exactly one proof; ``typ`` = ``dpop+jwt``; ``alg`` one of ``SIGNING_ALGORITHMS`` and fitting the key; the
   ``jwk`` a public key (no private members); the signature;
2. ``htm`` = the request's method, ``htu`` = its URL without query and fragment (both normalised: scheme and
   host lower case, default port dropped);
3. ``iat`` within ``DPOP_IAT_WINDOW_SECONDS`` of now, either way;
4. with an access token: ``ath`` = base64url(SHA-256(token));
5. with ``DPOP_NONCE_REQUIRED``: a ``nonce`` we issued (:mod:`.nonce`), else ``use_dpop_nonce``;
6. its ``jti`` never seen before (the shared cache, twice the ``iat`` window; fail closed).

The result is the key's RFC 7638 thumbprint (``jkt``): the token endpoint binds tokens to it (``cnf.jkt``), the API
compares it with the token's. Parsed keys are cached by their JSON (:mod:`.keys`), so a steady client costs one
signature check and one cache write per request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from joserfc import jws
from joserfc.errors import JoseError

from ..conf import consent_settings
from .errors import DPoPError
from .keys import KeyError_, alg_fits_key, allowed_algorithms, public_key
from .nonce import nonce_check
from .replay import jti_first_use

__all__ = ["DPoPProof", "access_token_hash", "dpop_proof_verify", "htu_normalise"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class DPoPProof:
    jkt: str
    # The proof carried the previous window's nonce: the response should offer the current one.
    nonce_stale: bool = False


def htu_normalise(url: str) -> str:
    """RFC 9449 §4.3 check 9: the URL without query and fragment, scheme and host lower case, no default port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


def access_token_hash(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode("ascii")).digest()).rstrip(b"=").decode()


def _invalid(description: str) -> DPoPError:
    return DPoPError("invalid_dpop_proof", description, status=400)


def dpop_proof_verify(*, proof: str | None, method: str, url: str, access_token: str | None = None) -> DPoPProof:
    """Check one DPoP proof for this request; :class:`DPoPError` (``invalid_dpop_proof``/``use_dpop_nonce``)."""
    if not proof:
        raise _invalid("A DPoP proof is required (DPoP header).")
    if "," in proof or len(proof) > 8192:
        raise _invalid("Send exactly one DPoP proof.")
    try:
        compact = jws.extract_compact(proof.encode("ascii"))
        header = dict(compact.protected)
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError):
        raise _invalid("The DPoP proof is not a signed JWT.") from None
    if header.get("typ") != "dpop+jwt":
        raise _invalid("The DPoP proof's typ must be dpop+jwt.")
    alg = header.get("alg")
    if alg not in allowed_algorithms():
        raise _invalid(f"The DPoP proof must be signed with one of {', '.join(allowed_algorithms())}.")
    jwk = header.get("jwk")
    try:
        key, jkt = public_key(jwk)
    except KeyError_ as exc:
        raise _invalid(f"The DPoP proof's jwk is not usable: {exc}.") from None
    if not alg_fits_key(alg, jwk):
        raise _invalid("The DPoP proof's alg does not fit its key.")
    try:
        jws.deserialize_compact(proof, key, algorithms=[alg])
    except (JoseError, ValueError):
        raise _invalid("The DPoP proof's signature does not verify with its jwk.") from None
    if not isinstance(claims, dict):
        raise _invalid("The DPoP proof's payload is not a JSON object.")
    if claims.get("htm") != method:
        raise _invalid(f"The DPoP proof is for another method (htm must be {method}).")
    htu = claims.get("htu")
    if not isinstance(htu, str) or htu_normalise(htu) != htu_normalise(url):
        raise _invalid("The DPoP proof is for another URL (htu).")
    iat = claims.get("iat")
    window = int(consent_settings.DPOP_IAT_WINDOW_SECONDS)
    if not isinstance(iat, int | float) or isinstance(iat, bool) or abs(time.time() - iat) > window:
        raise _invalid(f"The DPoP proof's iat is not within {window} s of the server's time.")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise _invalid("The DPoP proof's ath is not the hash of this access token.")
    stale = False
    if consent_settings.DPOP_NONCE_REQUIRED:
        state = nonce_check(claims.get("nonce"))
        if state is None:
            raise DPoPError("use_dpop_nonce", "Use the server nonce in the DPoP-Nonce header.", status=400)
        stale = state == "stale"
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise _invalid("The DPoP proof needs a jti.")
    if not jti_first_use(namespace="dpop", issuer=jkt, jti=jti, ttl=2 * window + 1):
        raise _invalid("The DPoP proof was already used (jti replay).")
    return DPoPProof(jkt=jkt, nonce_stale=stale)
