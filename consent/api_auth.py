"""DRF permissions that bind API requests to a consent (the contract the data API builds on).

Views declare ``required_permission`` (``"accounts"``, ``"balances"``, ``"transactions"`` or ``None``) and use
``permission_classes = [ConsentRequired]``. On success ``request.consent`` is the (authorised, unexpired)
consent the bearer token was issued under. Failures:

* 401 ``token_invalid`` — no token, an unknown one, or one that expired on its own;
* 401 ``consent_revoked`` / ``consent_expired`` — the consent behind the token ended (expiry is enforced here, on
  every request, not only by the periodic task);
* 403 ``permission_missing`` — the consent or the token's scopes lack ``required_permission``;
* 403 ``consent_required`` — a client-credentials token (no consent) used on a data endpoint.

``ClientCredentialsRequired`` guards consent management (``/api/v1/consents``): a TPP's client-credentials
token with scope ``consents`` and no consent; sets ``request.application``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from .models import AccessToken, Consent

__all__ = ["ClientCredentialsRequired", "ConsentRequired", "bearer_token_from_request"]


class _Unauthenticated(exceptions.NotAuthenticated):
    default_detail = "Authentication credentials were not provided or are no longer valid."


def _unauthenticated(code: str, message: str) -> exceptions.NotAuthenticated:
    return _Unauthenticated(detail=message, code=code)


def bearer_token_from_request(request: Any) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _explain_rejected_token(request: Any) -> exceptions.APIException:
    """DOT refused the token; say why when we can (its consent ended), without ever accepting it."""
    raw = bearer_token_from_request(request)
    if raw is None:
        return _unauthenticated("not_authenticated", "Send an OAuth2 bearer token in the Authorization header.")
    checksum = hashlib.sha256(raw.encode("utf-8")).hexdigest()
    token = AccessToken.objects.select_related("consent").filter(token_checksum=checksum).first()
    consent = token.consent if token is not None else None
    if consent is not None and consent.status == Consent.Status.REVOKED:
        return _unauthenticated("consent_revoked", "The consent behind this token has been revoked.")
    if consent is not None and consent.status == Consent.Status.EXPIRED:
        return _unauthenticated("consent_expired", "The consent behind this token has expired.")
    return _unauthenticated("token_invalid", "The access token is invalid or has expired.")


def _token_scopes(token: AccessToken) -> set[str]:
    return set((token.scope or "").split())


class ConsentRequired(BasePermission):
    """The request carries a valid access token bound to an authorised, unexpired consent."""

    def has_permission(self, request: Any, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, AccessToken):
            raise _explain_rejected_token(request)
        if token.consent_id is None:
            raise exceptions.PermissionDenied(
                "This endpoint needs a token issued under a consent (authorization code flow).",
                code="consent_required",
            )
        consent = Consent.objects.select_related("application", "user").get(pk=token.consent_id)
        if consent.status == Consent.Status.AUTHORISED and consent.expires_at <= timezone.now():
            from .services import ConsentStateError, consent_expire

            try:
                consent_expire(consent=consent, reason="Consent period ended (detected on request).")
            except ConsentStateError:
                consent.refresh_from_db()
        if consent.status == Consent.Status.REVOKED:
            raise _unauthenticated("consent_revoked", "The consent behind this token has been revoked.")
        if consent.status == Consent.Status.EXPIRED:
            raise _unauthenticated("consent_expired", "The consent behind this token has expired.")
        if consent.status != Consent.Status.AUTHORISED:
            raise _unauthenticated("token_invalid", "The consent behind this token is not authorised.")
        required = getattr(view, "required_permission", None)
        if required is not None and (required not in consent.permissions or required not in _token_scopes(token)):
            raise exceptions.PermissionDenied(
                f"The consent does not grant the '{required}' permission.", code="permission_missing"
            )
        request.consent = consent
        return True


class ClientCredentialsRequired(BasePermission):
    """A TPP's client-credentials token (scope ``consents``, no user, no consent)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, AccessToken):
            raise _explain_rejected_token(request)
        if token.consent_id is not None or token.user_id is not None or "consents" not in _token_scopes(token):
            raise exceptions.PermissionDenied(
                "Consent management needs a client-credentials token with scope 'consents'.",
                code="permission_missing",
            )
        request.application = token.application
        return True
