"""How each sandbox bank's authorization request names its scope and its bank-side consent, the way the bank's
standard does (and the sandbox's simpler ``consent_id`` parameter, kept for every bank that has consents).

* **albion (UK Open Banking)**: TPPs send ``scope=openid accounts`` (``payments`` and ``fundsconfirmations``
  are the other OBIE scopes; ``openid`` is OpenID Connect's). The account-access-consent id travels as the
  ``openbanking_intent_id`` claim of the OIDC request object (``request`` parameter, a JWT:
  ``{"claims": {"id_token": {"openbanking_intent_id": {"value": "<ConsentId>", "essential": true}}}}``, also
  accepted under ``userinfo``). The sandbox verifies request objects signed ``HS256`` with the client secret
  (OpenID Connect Core §10.1; the sandbox has no client key registry for OBIE's PS256); a request object that
  does not verify is ``invalid_request_object``. Its OAuth parameters (``redirect_uri``, ``state``, ``scope``,
  PKCE) take precedence over the query's (OIDC Core §6.1).
* **rhein (Berlin Group, OAuth2 SCA approach integrated in the consent / payment)**: ``scope=AIS:<consentId>``
  binds the authorization to that consent, ``scope=PIS:<paymentId>`` to that payment (its SCA). An unknown
  id, or another TPP's, is ``invalid_scope``; so are ``PIIS:`` scopes (no confirmation of funds service).
* **payments**: a payment consent (albion ``domestic(-scheduled)-payment-consent``, rhein payment) is
  authorised only under ``scope=payments`` (albion) / ``PIS:<paymentId>`` (rhein), an account-access consent
  only without them (``invalid_scope`` otherwise): a data token can never pay, a payment token never reads.
* **every bank**: ``scope=accounts`` and the ``consent_id`` query parameter. When a request names its consent
  twice (parameter and scope / request object), both must agree (``invalid_request`` otherwise).

The token's scope is what the client is registered for (``accounts``), plus ``openid`` and the ``AIS:`` scope
when they were asked for.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping

from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OctKey

__all__ = [
    "BANK_SCOPES",
    "ConsentReferenceError",
    "allowed_scope",
    "asks_for_payment",
    "consent_reference",
    "request_object_params",
    "scope_is_supported",
]

# The literal scopes each bank's authorization server knows (published as ``scopes_supported``).
BANK_SCOPES: dict[str, tuple[str, ...]] = {
    "albion": ("openid", "accounts", "payments", "fundsconfirmations"),
    "rhein": ("accounts", "payments"),
    "liberty": ("accounts",),
}
_BERLIN_GROUP_SCOPE = re.compile(r"^(AIS|PIS|PIIS):(.+)$")
# OAuth parameters a request object may carry (OIDC Core §6.1: they supersede the query's).
_REQUEST_OBJECT_PARAMS = ("redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method")


class ConsentReferenceError(Exception):
    """The request names its consent wrongly; ``error`` is the OAuth error code to answer."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _scopes(scope: str | None) -> list[str]:
    return [s for s in (scope_to_list(scope or "") or []) if s]


def scope_is_supported(bank: str, scope: str | None) -> bool:
    """Every scope of the request is one the bank knows (rhein: also ``AIS:<consentId>``)."""
    for item in _scopes(scope):
        if item in BANK_SCOPES[bank]:
            continue
        match = _BERLIN_GROUP_SCOPE.match(item)
        if bank == "rhein" and match and match.group(1) in {"AIS", "PIS"}:
            continue
        return False
    return True


def allowed_scope(client_scope: str, requested: str | None) -> str:
    """The scope granted: the requested scopes the client is registered for, plus ``openid``, a Berlin Group
    ``AIS:`` scope when the client may read accounts and a ``PIS:`` scope when it may initiate payments.
    Nothing requested: the registered scope."""
    if not requested:
        return client_scope
    registered = set(_scopes(client_scope))
    granted = []
    for item in _scopes(requested):
        if (
            item in registered
            or item == "openid"
            or (item.startswith("AIS:") and "accounts" in registered)
            or (item.startswith("PIS:") and "payments" in registered)
        ):
            granted.append(item)
    return list_to_scope(granted)


def asks_for_payment(scope: str | None) -> bool:
    """Whether the request's scope is a payment scope (``payments``, Berlin Group ``PIS:<paymentId>``)."""
    return any(item == "payments" or item.startswith("PIS:") for item in _scopes(scope))


def request_object_params(request_object: str, *, client_id: str, client_secret: str) -> dict[str, str]:
    """The OAuth parameters and the OBIE intent id (as ``consent_id``) of an OIDC request object signed
    ``HS256`` with the client secret. Raises ``ConsentReferenceError`` (``invalid_request_object``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)  # short sandbox secrets
            token = jwt.decode(request_object, OctKey.import_key(client_secret), algorithms=["HS256"])
        jwt.JWTClaimsRegistry().validate(token.claims)  # exp / nbf when present
    except (JoseError, ValueError, TypeError) as exc:
        raise ConsentReferenceError(
            "invalid_request_object", f"The request object does not verify (HS256 with the client secret): {exc}"
        ) from None
    claims = token.claims
    if claims.get("client_id") not in (None, client_id):
        raise ConsentReferenceError("invalid_request_object", "The request object is for another client_id.")
    params = {key: str(claims[key]) for key in _REQUEST_OBJECT_PARAMS if isinstance(claims.get(key), str)}
    requested = claims.get("claims") if isinstance(claims.get("claims"), dict) else {}
    for member in ("id_token", "userinfo"):
        intent = (requested.get(member) or {}).get("openbanking_intent_id") if isinstance(requested, dict) else None
        if isinstance(intent, dict) and isinstance(intent.get("value"), str) and intent["value"]:
            params["consent_id"] = intent["value"]
            break
    return params


def consent_reference(bank: str, params: Mapping[str, str]) -> tuple[str, str]:
    """(the consent id the request names, how: ``"parameter"`` or ``"scope"``); ``("", "")`` when none.

    ``params`` are the request's parameters after a request object was applied (its intent id arrives as
    ``consent_id``). Raises ``ConsentReferenceError`` when the request names two different consents."""
    by_parameter = params.get("consent_id", "")
    by_scope = ""
    if bank == "rhein":
        ids = [m.group(2) for m in map(_BERLIN_GROUP_SCOPE.match, _scopes(params.get("scope"))) if m]
        if len(set(ids)) > 1:
            raise ConsentReferenceError("invalid_scope", "The scope names more than one consent.")
        by_scope = ids[0] if ids else ""
    if by_parameter and by_scope and by_parameter != by_scope:
        raise ConsentReferenceError("invalid_request", "'consent_id' and the scope name different consents.")
    if by_scope:
        return by_scope, "scope"
    return by_parameter, ("parameter" if by_parameter else "")
