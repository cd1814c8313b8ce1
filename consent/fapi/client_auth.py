"""``private_key_jwt`` client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9, FAPI 2.0 §5.3.2.1).

The client sends ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and a
``client_assertion``: a JWT it signed with a key of its registered JWKS, with

* ``iss`` = ``sub`` = its ``client_id`` (and the ``client_id`` parameter, if sent, the same);
* ``aud`` = our issuer identifier, as a single string (FAPI 2.0: the issuer and nothing else — not the token
  endpoint URL, not an array);
* ``exp`` in the future and at most ``CLIENT_ASSERTION_MAX_LIFETIME_SECONDS`` after ``iat`` (or after now);
* a ``jti`` never seen before: remembered in the shared cache until the assertion expires (:mod:`.replay`).

The header's ``alg`` must be one of ``SIGNING_ALGORITHMS`` (PS256, ES256, EdDSA) and fit the key. Any failure is
``invalid_client`` (HTTP 401); an unreachable replay cache raises :class:`ReplayCheckUnavailable`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

from ..conf import consent_settings
from ..models import Application
from .errors import OAuthProtocolError
from .jwks import JwksError, application_jwks
from .keys import KeyError_, alg_fits_key, allowed_algorithms, public_key
from .replay import jti_first_use

__all__ = ["CLIENT_ASSERTION_TYPE", "client_assertion_verify"]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _invalid(description: str) -> OAuthProtocolError:
    return OAuthProtocolError("invalid_client", description, status=401)


def _header_and_claims(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        compact = jws.extract_compact(assertion.encode("ascii"))
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise _invalid("The client assertion is not a signed JWT.") from exc
    if not isinstance(claims, dict):
        raise _invalid("The client assertion's payload is not a JSON object.")
    return dict(compact.protected), claims


def _verify_signature(assertion: str, alg: str, kid: Any, application: Application) -> None:
    def candidates(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fitting = [k for k in keys if alg_fits_key(alg, k) and k.get("use") in (None, "sig")]
        return [k for k in fitting if k.get("kid") == kid] if kid is not None else fitting

    try:
        keys = candidates(application_jwks(application))
        if not keys and kid is not None and application.jwks_uri:
            keys = candidates(application_jwks(application, missing_kid=str(kid)))
    except JwksError as exc:
        raise _invalid(f"The client's JWKS cannot be used: {exc}") from exc
    for jwk in keys:
        try:
            key, _thumbprint = public_key(jwk)
            jws.deserialize_compact(assertion, key, algorithms=[alg])
            return
        except (KeyError_, JoseError, ValueError):
            continue
    raise _invalid("The client assertion is not signed by a key of the client's registered JWKS.")


def client_assertion_verify(
    *, assertion: str, assertion_type: str | None, client_id: str | None, issuer: str
) -> Application:
    """The application that signed ``assertion``; :class:`OAuthProtocolError` ``invalid_client`` otherwise."""
    if assertion_type != CLIENT_ASSERTION_TYPE:
        raise _invalid(f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}.")
    header, claims = _header_and_claims(assertion)
    alg = header.get("alg")
    if alg not in allowed_algorithms():
        raise _invalid(f"The client assertion must be signed with one of {', '.join(allowed_algorithms())}.")
    iss, sub = claims.get("iss"), claims.get("sub")
    if not isinstance(iss, str) or iss != sub:
        raise _invalid("The client assertion's iss and sub must both be the client_id.")
    if client_id is not None and client_id != iss:
        raise _invalid("The client_id parameter does not match the client assertion's iss.")
    application = Application.objects.filter(client_id=iss).first()
    if application is None or not (application.jwks or application.jwks_uri):
        raise _invalid("Unknown client, or no JWKS registered for private_key_jwt.")

    _verify_signature(assertion, alg, header.get("kid"), application)

    skew = int(consent_settings.CLOCK_SKEW_SECONDS)
    now = time.time()
    if claims.get("aud") != issuer:
        raise _invalid(f"The client assertion's aud must be the issuer identifier {issuer!r} (a single string).")
    exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise _invalid("The client assertion has no exp.")
    if exp <= now - skew:
        raise _invalid("The client assertion has expired.")
    if iat is not None and (not isinstance(iat, int | float) or iat > now + skew):
        raise _invalid("The client assertion's iat is in the future.")
    if nbf is not None and (not isinstance(nbf, int | float) or nbf > now + skew):
        raise _invalid("The client assertion is not valid yet (nbf).")
    start = iat if iat is not None else now
    if exp - start > int(consent_settings.CLIENT_ASSERTION_MAX_LIFETIME_SECONDS):
        raise _invalid(
            f"The client assertion lives too long (at most {consent_settings.CLIENT_ASSERTION_MAX_LIFETIME_SECONDS} s)."
        )
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise _invalid("The client assertion needs a jti.")
    if not jti_first_use(namespace="client_assertion", issuer=iss, jti=jti, ttl=int(exp - now) + skew):
        raise _invalid("The client assertion was already used (jti replay).")
    return application
