"""Pushed authorization requests (RFC 9126): services behind ``POST /oauth/par/`` and the authorization endpoint.

* :func:`par_push` — an authenticated client's authorization request, checked as the authorization endpoint would
  check it (response type, exact redirect URI, scopes, PKCE S256, the consent it names), is stored and answered
  with ``urn:ietf:params:oauth:request_uri:<reference>`` valid ``PAR_LIFETIME_SECONDS`` (default 60, below 600).
  Only the SHA-256 of the reference is stored.
* :func:`par_claim` — the authorization endpoint receives ``client_id`` + ``request_uri``. The first browser to
  present it within its lifetime claims it: a random secret goes into that browser's session and its hash onto the
  row. The same browser may present it again (reload, login, the return from connecting a bank) for
  ``PAR_CLAIMED_LIFETIME_SECONDS``; any other browser gets ``invalid_request_uri``.
* :func:`par_consume` — issuing the code, or the user's denial, deletes the row: the request URI is used once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..conf import consent_settings
from ..models import Application, Consent, PushedAuthorizationRequest
from ..oauth import DATA_SCOPES, code_challenge_valid
from ..selectors import consent_is_authorisable
from .errors import OAuthProtocolError

__all__ = ["PAR_URN_PREFIX", "PUSHED_FIELDS", "PushedRequest", "par_claim", "par_consume", "par_lifetime", "par_push"]

PAR_URN_PREFIX = "urn:ietf:params:oauth:request_uri:"
# The authorization request parameters we keep from a push (anything else is ignored, as at /oauth/authorize/).
PUSHED_FIELDS = ("client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
                 "code_challenge_method", "consent_id")  # fmt: skip
_MAX_LIFETIME = 599  # RFC 9126 §2.2 recommends well below 600 s; FAPI 2.0 §5.3.2.2 requires < 600 s.


@dataclass(frozen=True)
class PushedRequest:
    parameters: dict[str, str]
    claim_secret: str  # to keep in the browser's session (new or the one presented)
    request_uri: str


def par_lifetime() -> int:
    return max(1, min(int(consent_settings.PAR_LIFETIME_SECONDS), _MAX_LIFETIME))


def _checksum(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _reference(request_uri: Any) -> str | None:
    if not isinstance(request_uri, str) or not request_uri.startswith(PAR_URN_PREFIX):
        return None
    reference = request_uri[len(PAR_URN_PREFIX) :]
    return reference if 20 <= len(reference) <= 128 else None


def _invalid(error: str, description: str) -> OAuthProtocolError:
    return OAuthProtocolError(error, description, status=400)


def _checked_parameters(application: Application, params: dict[str, str]) -> dict[str, str]:
    if "request_uri" in params:
        raise _invalid("invalid_request", "A pushed authorization request must not contain request_uri.")
    if "request" in params:
        raise _invalid("request_not_supported", "Signed request objects (JAR) are not supported.")
    if params.get("resource"):
        raise _invalid(
            "invalid_target", "Resource indicators are not supported: a token reaches what its consent allows."
        )
    if params.get("client_id", application.client_id) != application.client_id:
        raise _invalid("invalid_request", "client_id does not match the authenticated client.")
    if params.get("response_type") != "code":
        raise _invalid("unsupported_response_type", "response_type must be code.")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri or redirect_uri not in application.redirect_uris.split():
        raise _invalid("invalid_request", "redirect_uri must be one of the client's registered redirect URIs.")
    if params.get("code_challenge_method") != "S256" or not code_challenge_valid(params.get("code_challenge")):
        raise _invalid(
            "invalid_request",
            "PKCE is required: code_challenge_method=S256 and a code_challenge of 43 to 128 characters (RFC 7636).",
        )
    scopes = set(params.get("scope", "").split())
    if not scopes or not scopes <= DATA_SCOPES:
        raise _invalid("invalid_scope", f"scope must be a non-empty subset of {' '.join(sorted(DATA_SCOPES))}.")
    if len(params.get("state", "")) > 512:
        raise _invalid("invalid_request", "state is too long (512 characters at most).")
    try:
        consent_id = uuid.UUID(params.get("consent_id", ""))
    except ValueError:
        raise _invalid("invalid_request", "consent_id is missing or malformed.") from None
    consent = Consent.objects.filter(pk=consent_id, application=application).first()
    if consent is None:
        raise _invalid("invalid_request", "consent_id names no consent of this client.")
    if not consent_is_authorisable(consent=consent):
        raise _invalid("invalid_request", f"The consent cannot be authorised (it is {consent.status}).")
    if not scopes <= set(consent.permissions):
        raise _invalid("invalid_scope", "The requested scope exceeds the consent's permissions.")
    kept = {name: str(params[name]) for name in PUSHED_FIELDS if params.get(name)}
    kept["client_id"] = application.client_id
    return kept


@transaction.atomic
def par_push(*, application: Application, parameters: dict[str, str]) -> tuple[str, int]:
    """Store an authenticated client's authorization request: ``(request_uri, expires_in)``."""
    kept = _checked_parameters(application, parameters)
    reference = secrets.token_urlsafe(32)
    lifetime = par_lifetime()
    PushedAuthorizationRequest.objects.create(
        application=application,
        reference_checksum=_checksum(reference),
        parameters=kept,
        expires_at=timezone.now() + dt.timedelta(seconds=lifetime),
    )
    # Expired, unclaimed pushes of this client go (the periodic token cleanup removes the rest).
    PushedAuthorizationRequest.objects.filter(
        application=application, claimed_at__isnull=True, expires_at__lt=timezone.now() - dt.timedelta(minutes=5)
    ).delete()
    return PAR_URN_PREFIX + reference, lifetime


def _unusable() -> OAuthProtocolError:
    return _invalid("invalid_request_uri", "The request_uri is unknown, expired, already used, or not yours.")


@transaction.atomic
def par_claim(*, client_id: Any, request_uri: Any, claim_secret: str | None) -> PushedRequest:
    """The pushed parameters for this browser (claiming them if nobody has): ``invalid_request_uri`` otherwise."""
    reference = _reference(request_uri)
    if reference is None:
        raise _invalid("invalid_request_uri", f"request_uri must be a {PAR_URN_PREFIX}… value from /oauth/par/.")
    row = (
        PushedAuthorizationRequest.objects.select_for_update()
        .select_related("application")
        .filter(reference_checksum=_checksum(reference))
        .first()
    )
    if row is None or row.application.client_id != client_id:
        raise _unusable()
    now = timezone.now()
    if row.claim_checksum:
        claimed_until = row.claimed_at + dt.timedelta(seconds=int(consent_settings.PAR_CLAIMED_LIFETIME_SECONDS))
        if not claim_secret or _checksum(claim_secret) != row.claim_checksum or claimed_until <= now:
            raise _unusable()
        return PushedRequest(parameters=dict(row.parameters), claim_secret=claim_secret, request_uri=request_uri)
    if row.expires_at <= now:
        row.delete()
        raise _unusable()
    secret = secrets.token_urlsafe(32)
    row.claim_checksum, row.claimed_at = _checksum(secret), now
    row.save(update_fields=["claim_checksum", "claimed_at"])
    return PushedRequest(parameters=dict(row.parameters), claim_secret=secret, request_uri=request_uri)


@transaction.atomic
def par_consume(*, client_id: Any, request_uri: Any, claim_secret: str | None) -> dict[str, str]:
    """Use the pushed request once (code issued or request denied): it is deleted; ``invalid_request_uri`` if it
    was already used, or claimed by another browser."""
    pushed = par_claim(client_id=client_id, request_uri=request_uri, claim_secret=claim_secret)
    reference = _reference(request_uri)
    assert reference is not None  # par_claim checked it
    PushedAuthorizationRequest.objects.filter(reference_checksum=_checksum(reference)).delete()
    return pushed.parameters
