"""django-oauth-toolkit customisation: every grant and token carries the consent it was issued under.

* Authorization codes are created only through our consent screen, which passes the approved consent in the
  authorization ``credentials``; the grant, its access token and refresh token (and every rotated successor)
  keep that consent.
* Scopes granted are a subset of the consent's permissions; the ``consents`` scope is only for
  client-credentials tokens, and client-credentials tokens get nothing else.
* PKCE is S256 only (``plain`` and a missing method are refused), codes are exchanged only while their consent is
  authorised and unexpired, and refresh fails once the consent has ended.
* When DOT's reuse protection revokes a refresh-token family (an already used refresh token came back), the consent
  records it (``consent_tokens_revoked``, reason ``refresh_token_reuse``).
* Applications are registered for the authorization-code grant; confidential ones may also use client
  credentials (for scope ``consents`` only) — DOT applications carry a single grant type.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.utils import timezone
from oauth2_provider.models import AbstractApplication
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from .models import Consent, Grant, RefreshToken
from .services import consent_tokens_revoked

__all__ = ["CONSENTS_SCOPE", "DATA_SCOPES", "ConsentOAuth2Validator"]

CONSENTS_SCOPE = "consents"
DATA_SCOPES = frozenset(Consent.Permission.values)


def _consent_usable(consent: Consent | None) -> bool:
    return consent is not None and consent.status == Consent.Status.AUTHORISED and consent.expires_at > timezone.now()


def _family_of(raw_refresh_token: str) -> Any:
    """The token family of a presented refresh token (DOT stores only the token's SHA-256 checksum)."""
    checksum = hashlib.sha256(raw_refresh_token.encode("utf-8")).hexdigest()
    return RefreshToken.objects.filter(token_checksum=checksum).values_list("token_family", flat=True).first()


def _family_live(family: Any) -> bool:
    return RefreshToken.objects.filter(token_family=family, revoked__isnull=True).exists()


def _record_reuse(family: Any) -> None:
    consent_id = RefreshToken.objects.filter(token_family=family).values_list("consent_id", flat=True).first()
    consent = Consent.objects.filter(pk=consent_id).first() if consent_id else None
    if consent is not None:
        consent_tokens_revoked(
            consent=consent,
            reason="refresh_token_reuse",
            detail="an already used refresh token was presented again; every token of its family was revoked",
        )


class ConsentOAuth2Validator(OAuth2Validator):
    # --- grant types -----------------------------------------------------------------------------------
    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        if grant_type == "client_credentials":
            return (
                client.client_type == AbstractApplication.CLIENT_CONFIDENTIAL
                and client.authorization_grant_type
                in {
                    AbstractApplication.GRANT_AUTHORIZATION_CODE,
                    AbstractApplication.GRANT_CLIENT_CREDENTIALS,
                }
            )
        if grant_type not in {"authorization_code", "refresh_token"}:
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        # Authorization code only: no implicit or hybrid flows.
        return response_type == "code" and super().validate_response_type(
            client_id, response_type, client, request, *args, **kwargs
        )

    # --- scopes ----------------------------------------------------------------------------------------
    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        requested = set(scopes)
        if getattr(request, "grant_type", None) == "client_credentials":
            return requested == {CONSENTS_SCOPE}
        if not requested or not requested <= DATA_SCOPES:
            return False
        consent = getattr(request, "consent", None)
        if consent is not None and not requested <= set(consent.permissions):
            return False
        return super().validate_scopes(client_id, scopes, client, request, *args, **kwargs)

    def get_default_scopes(self, client_id, request, *args, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
        if getattr(request, "grant_type", None) == "client_credentials":
            return [CONSENTS_SCOPE]
        return super().get_default_scopes(client_id, request, *args, **kwargs)

    # --- authorization codes ---------------------------------------------------------------------------
    def _create_authorization_code(self, request, code, expires=None):  # type: ignore[no-untyped-def]
        consent = getattr(request, "consent", None)
        if consent is None or consent.application_id != request.client.pk or not _consent_usable(consent):
            raise errors.InvalidRequestError(description="An approved consent is required.", request=request)
        if request.code_challenge_method != "S256" or not request.code_challenge:
            raise errors.InvalidRequestError(description="PKCE with code_challenge_method=S256 is required.")
        if not set(request.scopes) <= set(consent.permissions):
            raise errors.InvalidScopeError(request=request)
        grant = super()._create_authorization_code(request, code, expires=expires)
        grant.consent = consent
        grant.save(update_fields=["consent"])
        return grant

    def validate_code(self, client_id, code, client, request, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        grant = Grant.objects.select_related("consent").filter(code=code, application=client).first()
        if grant is None or not _consent_usable(grant.consent):
            return False
        request.consent = grant.consent
        return True

    # --- tokens ----------------------------------------------------------------------------------------
    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        family = _family_of(refresh_token)
        live_before = family is not None and _family_live(family)
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            if live_before and not _family_live(family):  # DOT's reuse protection just revoked the family
                _record_reuse(family)
            return False
        rt = request.refresh_token_instance
        consent = Consent.objects.filter(pk=rt.consent_id).first() if rt.consent_id else None
        if not _consent_usable(consent):
            return False
        request.consent = consent
        return True

    def _create_access_token(self, expires, request, token, source_refresh_token=None):  # type: ignore[no-untyped-def]
        access_token = super()._create_access_token(expires, request, token, source_refresh_token=source_refresh_token)
        consent = self._request_consent(request)
        if consent is not None:
            access_token.consent = consent
            access_token.save(update_fields=["consent"])
        return access_token

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):  # type: ignore[no-untyped-def]
        refresh_token = super()._create_refresh_token(request, refresh_token_code, access_token, previous_refresh_token)
        consent = self._request_consent(request) or getattr(access_token, "consent", None)
        if consent is not None:
            refresh_token.consent = consent
            refresh_token.save(update_fields=["consent"])
        return refresh_token

    @staticmethod
    def _request_consent(request: Any) -> Consent | None:
        if getattr(request, "grant_type", None) == "client_credentials":
            return None
        return getattr(request, "consent", None)
