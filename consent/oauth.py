"""django-oauth-toolkit customisation: every grant and token carries the consent it was issued under.

* Authorization codes are created only through our consent screen, which passes the approved consent in the
  authorization ``credentials``; the grant, its access token and refresh token (and every rotated successor)
  keep that consent.
* Scopes granted are a subset of the consent's permissions; the ``consents`` scope is only for
  client-credentials tokens, and client-credentials tokens get nothing else.
* PKCE is S256 only (``plain`` and a missing method are refused), codes are exchanged only while their consent is
  authorised and unexpired, and refresh fails once the consent has ended.
* Authorization codes are stored as their SHA-256 checksum only (like DOT stores tokens): every lookup hashes the
  presented code first. A code presented again after its exchange (RFC 6749 §4.1.2) ends every token of its consent
  (``consent_code_replayed``); access tokens remember the checksum of the code they came from to find it.
* ``code_challenge`` must be 43 to 128 characters of the unreserved set (RFC 7636 §4.1/4.2); the token request must
  repeat the ``redirect_uri`` (the grant always records one); redirect URIs match a registered one exactly, loopback
  ports included (stricter than RFC 8252 §7.3: our TPPs are web apps, not native apps). RFC 8707 resource
  indicators are refused (``invalid_target``): a token's reach is its consent.
* When DOT's reuse protection revokes a refresh-token family (an already used refresh token came back), the consent
  records it (``consent_tokens_revoked``, reason ``refresh_token_reuse``).
* Every token issued (DOT's ``app_authorized`` signal) and every token a client revokes (RFC 7009) is announced as
  a ``token.issued`` / ``token.revoked`` domain event (the ledger logs them); never the token itself.
* FAPI 2.0 (``consent/fapi/``): a client authenticates with ``private_key_jwt`` when it sends a
  ``client_assertion`` (FAPI 2.0 clients must: their ``client_secret_*`` is refused, ``invalid_client``); a token
  request that carried a valid DPoP proof (checked by the view, which leaves the key's thumbprint in
  ``request.headers[DPOP_JKT_META]``) gets tokens bound to that key (``jkt`` on the rows, ``token_type: DPoP``);
  FAPI 2.0 clients must send one (``invalid_dpop_proof``), and a bound refresh token needs a proof by its key.
* Applications are registered for the authorization-code grant; confidential ones may also use client
  credentials (for scope ``consents`` only) — DOT applications carry a single grant type.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.utils import timezone
from oauth2_provider.models import AbstractApplication
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from .fapi.client_auth import client_assertion_verify
from .fapi.errors import OAuthProtocolError, ReplayCheckUnavailable
from .fapi.profile import DPOP_JKT_META, ISSUER_META, application_is_fapi2
from .models import AccessToken, Consent, Grant, RefreshToken
from .services import consent_code_replayed, consent_tokens_revoked, token_issued, token_revoked

__all__ = [
    "CONSENTS_SCOPE",
    "DATA_SCOPES",
    "ConsentOAuth2Validator",
    "code_challenge_valid",
    "code_checksum",
    "on_app_authorized",
]

CONSENTS_SCOPE = "consents"
DATA_SCOPES = frozenset(Consent.Permission.values)
# RFC 7636 §4.2: code_challenge = 43*128unreserved (ALPHA / DIGIT / "-" / "." / "_" / "~").
_CODE_CHALLENGE_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def code_checksum(code: str) -> str:
    """What is stored for an authorization code (its SHA-256, hex), the way DOT stores token checksums."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def code_challenge_valid(challenge: str | None) -> bool:
    return bool(challenge) and _CODE_CHALLENGE_RE.fullmatch(challenge) is not None


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


def _refuse_resource(request: Any) -> None:
    if getattr(request, "resource", None):
        raise errors.CustomOAuth2Error(
            error="invalid_target",
            description="Resource indicators are not supported: a token reaches what its consent allows.",
            request=request,
        )


def _end_tokens_of_replayed_code(checksum: str, client: Any) -> None:
    """A code that was already exchanged came back: end every token of its consent (RFC 6749 §4.1.2)."""
    consent_id = (
        AccessToken.objects.filter(code_checksum=checksum, application=client)
        .values_list("consent_id", flat=True)
        .first()
    )
    consent = Consent.objects.filter(pk=consent_id).first() if consent_id else None
    if consent is not None:
        consent_code_replayed(consent=consent)


def _request_jkt(request: Any) -> str:
    return (getattr(request, "headers", None) or {}).get(DPOP_JKT_META, "")


def _param(request: Any, name: str) -> Any:
    return getattr(request, name, None) if name in getattr(request, "_params", {}) else None


class ConsentOAuth2Validator(OAuth2Validator):
    # --- client authentication (secrets for baseline clients, private_key_jwt) --------------------------
    def client_authentication_required(self, request, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        if _param(request, "client_assertion") is not None or _param(request, "client_assertion_type") is not None:
            return True
        return super().client_authentication_required(request, *args, **kwargs)

    def authenticate_client(self, request, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        assertion = _param(request, "client_assertion")
        assertion_type = _param(request, "client_assertion_type")
        if assertion is not None or assertion_type is not None:
            if self._extract_basic_auth(request) or _param(request, "client_secret") is not None:
                raise errors.InvalidClientError(
                    description="Use one client authentication method per request.", request=request
                )
            issuer = (request.headers or {}).get(ISSUER_META)
            if not issuer:  # pragma: no cover - every view that authenticates clients sets it
                raise errors.ServerError(description="The issuer is unknown here.", request=request)
            try:
                application = client_assertion_verify(
                    assertion=assertion or "",
                    assertion_type=assertion_type,
                    client_id=_param(request, "client_id"),
                    issuer=issuer,
                )
            except OAuthProtocolError as exc:
                raise errors.InvalidClientError(description=exc.description, request=request) from None
            except ReplayCheckUnavailable:
                raise errors.CustomOAuth2Error(
                    error="temporarily_unavailable",
                    description="The replay check is unavailable; retry shortly.",
                    status_code=503,
                    request=request,
                ) from None
            request.client = application
            request.client_id = application.client_id
            return True
        authenticated = super().authenticate_client(request, *args, **kwargs)
        if authenticated and application_is_fapi2(request.client):
            raise errors.InvalidClientError(
                description="This client authenticates with private_key_jwt (FAPI 2.0): client secrets are refused.",
                request=request,
            )
        return authenticated

    def authenticate_client_id(self, client_id, request, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        return super().authenticate_client_id(client_id, request, *args, **kwargs) and not application_is_fapi2(
            request.client
        )

    # --- grant types -----------------------------------------------------------------------------------
    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        if application_is_fapi2(client) and not _request_jkt(request):
            # FAPI 2.0 §5.3.2.2: sender-constrained tokens only (DPoP); checked once the client is authenticated.
            raise errors.CustomOAuth2Error(
                error="invalid_dpop_proof",
                description="A DPoP proof is required: this client's tokens are DPoP-bound (FAPI 2.0).",
                request=request,
            )
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

    # --- redirect URIs --------------------------------------------------------------------------------
    def validate_redirect_uri(self, client_id, redirect_uri, request, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        # Exact match with a registered URI; DOT would accept any port for a loopback URI (RFC 8252 §7.3).
        return redirect_uri in request.client.redirect_uris.split() and super().validate_redirect_uri(
            client_id, redirect_uri, request, *args, **kwargs
        )

    def get_default_redirect_uri(self, client_id, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        # At the token endpoint the redirect_uri must be repeated (RFC 6749 §4.1.3; every grant records one):
        # no default, so oauthlib refuses a token request without it.
        if getattr(request, "grant_type", None) == "authorization_code":
            return None
        return super().get_default_redirect_uri(client_id, request, *args, **kwargs)

    # --- authorization codes (stored as checksums) -----------------------------------------------------
    def _create_authorization_code(self, request, code, expires=None):  # type: ignore[no-untyped-def]
        consent = getattr(request, "consent", None)
        if consent is None or consent.application_id != request.client.pk or not _consent_usable(consent):
            raise errors.InvalidRequestError(description="An approved consent is required.", request=request)
        if request.code_challenge_method != "S256" or not request.code_challenge:
            raise errors.InvalidRequestError(description="PKCE with code_challenge_method=S256 is required.")
        if not code_challenge_valid(request.code_challenge):
            raise errors.InvalidRequestError(
                description="code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636).",
                request=request,
            )
        _refuse_resource(request)
        if not set(request.scopes) <= set(consent.permissions):
            raise errors.InvalidScopeError(request=request)
        grant = super()._create_authorization_code(request, {**code, "code": code_checksum(code["code"])}, expires)
        grant.consent = consent
        grant.save(update_fields=["consent"])
        return grant

    def validate_code(self, client_id, code, client, request, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        checksum = code_checksum(code)
        _refuse_resource(request)
        grant = Grant.objects.select_related("consent").filter(code=checksum, application=client).first()
        if grant is None:
            _end_tokens_of_replayed_code(checksum, client)
            return False
        if not super().validate_code(client_id, checksum, client, request, *args, **kwargs):
            return False
        if not _consent_usable(grant.consent):
            return False
        request.consent = grant.consent
        return True

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        return bool(redirect_uri) and super().confirm_redirect_uri(
            client_id, code_checksum(code), redirect_uri, client, *args, **kwargs
        )

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().invalidate_authorization_code(client_id, code_checksum(code), request, *args, **kwargs)

    def get_code_challenge(self, code, request):  # type: ignore[no-untyped-def]
        return super().get_code_challenge(code_checksum(code), request)

    def get_code_challenge_method(self, code, request):  # type: ignore[no-untyped-def]
        return super().get_code_challenge_method(code_checksum(code), request)

    def get_authorization_code_scopes(self, client_id, code, redirect_uri, request):  # type: ignore[no-untyped-def]
        return super().get_authorization_code_scopes(client_id, code_checksum(code), redirect_uri, request)

    def get_authorization_code_nonce(self, client_id, code, redirect_uri, request):  # type: ignore[no-untyped-def]
        return super().get_authorization_code_nonce(client_id, code_checksum(code), redirect_uri, request)

    # --- tokens ----------------------------------------------------------------------------------------
    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        """DOT's RFC 7009 revocation, then a ``token.revoked`` event for each live token it ended."""
        application = getattr(request, "client", None)
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        found: list[tuple[str, Consent | None]] = []
        if getattr(application, "pk", None) is not None:
            now = timezone.now()
            lookup = {"token_checksum": checksum, "application_id": application.pk}
            for at in AccessToken.objects.filter(**lookup, expires__gt=now).select_related("consent"):
                found.append(("access_token", at.consent))
            for rt in RefreshToken.objects.filter(**lookup, revoked__isnull=True).select_related("consent"):
                found.append(("refresh_token", rt.consent))
        super().revoke_token(token, token_type_hint, request, *args, **kwargs)
        for kind, consent in found:
            token_revoked(consent=consent, application=application, kind=kind, reason="client_request")

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        family = _family_of(refresh_token)
        live_before = family is not None and _family_live(family)
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            if live_before and not _family_live(family):  # DOT's reuse protection just revoked the family
                _record_reuse(family)
            return False
        rt = request.refresh_token_instance
        if rt.jkt and rt.jkt != _request_jkt(request):
            raise errors.CustomOAuth2Error(
                error="invalid_dpop_proof",
                description="This refresh token is DPoP-bound: send a DPoP proof signed by the same key.",
                request=request,
            )
        consent = Consent.objects.filter(pk=rt.consent_id).first() if rt.consent_id else None
        if not _consent_usable(consent):
            return False
        request.consent = consent
        return True

    def save_bearer_token(self, token, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().save_bearer_token(token, request, *args, **kwargs)
        if _request_jkt(request):
            token["token_type"] = "DPoP"  # RFC 9449 §5: the token is bound to the proof's key

    def _create_access_token(self, expires, request, token, source_refresh_token=None):  # type: ignore[no-untyped-def]
        access_token = super()._create_access_token(expires, request, token, source_refresh_token=source_refresh_token)
        consent = self._request_consent(request)
        jkt = _request_jkt(request)
        if consent is not None or jkt:
            access_token.consent = consent
            access_token.jkt = jkt
            if consent is not None and getattr(request, "grant_type", None) == "authorization_code" and request.code:
                access_token.code_checksum = code_checksum(request.code)
            access_token.save(update_fields=["consent", "code_checksum", "jkt"])
        return access_token

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):  # type: ignore[no-untyped-def]
        refresh_token = super()._create_refresh_token(request, refresh_token_code, access_token, previous_refresh_token)
        consent = self._request_consent(request) or getattr(access_token, "consent", None)
        jkt = _request_jkt(request)
        if consent is not None or jkt:
            refresh_token.consent = consent
            refresh_token.jkt = jkt
            refresh_token.save(update_fields=["consent", "jkt"])
        return refresh_token

    @staticmethod
    def _request_consent(request: Any) -> Consent | None:
        if getattr(request, "grant_type", None) == "client_credentials":
            return None
        return getattr(request, "consent", None)


def on_app_authorized(sender: Any, request: Any, token: AccessToken, **kwargs: Any) -> None:
    """DOT's ``app_authorized`` signal (a token was just issued at the token endpoint)."""
    token_issued(token=token, grant_type=str(request.POST.get("grant_type", "")))
