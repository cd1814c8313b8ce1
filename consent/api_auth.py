"""DRF permissions that bind API requests to a consent (the contract the data API builds on).

Views declare ``required_permission`` (``"accounts"``, ``"balances"``, ``"transactions"`` or ``None``) and use
``permission_classes = [ConsentRequired]``. On success ``request.consent`` is the (authorised, unexpired)
consent the bearer token was issued under. Failures:

* 401 ``token_invalid`` — no token, an unknown one, or one that expired on its own;
* 401 ``consent_revoked`` / ``consent_expired`` — the consent behind the token ended (expiry is decided here, on
  every request, not only by the periodic task; the permission only decides — the API views record a due
  expiry first with ``consent.services.consent_expire_if_due``);
* 403 ``permission_missing`` — the consent or the token's scopes lack ``required_permission``;
* 403 ``consent_required`` — a client-credentials token (no consent) used on a data endpoint;
* 403 ``reconfirmation_required`` — a UK consent its user has not reconfirmed within 90 days (``consent.clocks``):
  access resumes the moment the user reconfirms.

``ClientCredentialsRequired`` guards consent management (``/api/v1/consents``): a TPP's client-credentials
token with scope ``consents`` and no consent; sets ``request.application``.

``ConsentTokenAuthentication`` is the data API's authentication: it validates the bearer token the way
django-oauth-toolkit's ``OAuth2Authentication`` does (same checks, same ``WWW-Authenticate`` challenge) but with
one query that also loads the token's consent, so ``ConsentRequired`` needs none. DOT still issues the tokens.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import connections, router
from django.utils.functional import SimpleLazyObject
from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme
from oauth2_provider.models import AbstractApplication
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from .clocks import consent_reconfirmation_lapsed
from .fapi.dpop import dpop_proof_verify
from .fapi.errors import DPoPError, ReplayCheckUnavailable
from .fapi.keys import allowed_algorithms
from .fapi.middleware import DPOP_NONCE_OUT_META
from .fapi.nonce import nonce_current
from .models import AccessToken, Consent
from .selectors import consent_time_is_up

__all__ = [
    "ClientCredentialsRequired",
    "ConsentRequired",
    "ConsentTokenAuthentication",
    "ConsentTokenAuthenticationScheme",
    "PaymentTokenOrClientRequired",
    "access_token_lookup",
    "bearer_token_from_request",
]

# Where ConsentTokenAuthentication leaves the token row it looked up (or None) on the DRF request, so that
# explaining a refusal (consent revoked/expired) needs no second query.
_LOOKED_UP = "_consent_api_token_lookup"


class _Unauthenticated(exceptions.NotAuthenticated):
    default_detail = "Authentication credentials were not provided or are no longer valid."


def _unauthenticated(code: str, message: str) -> exceptions.NotAuthenticated:
    return _Unauthenticated(detail=message, code=code)


def bearer_token_from_request(request: Any) -> str | None:
    """The access token of ``Authorization: Bearer …`` or ``Authorization: DPoP …``."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() not in ("bearer", "dpop") or not value.strip():
        return None
    return value.strip()


# request.META key: the DPoP challenge to answer with (``{"error", "error_description"}``).
_DPOP_CHALLENGE = "consent.dpop_challenge"


class _ReplayCheckUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The DPoP replay check is unavailable; retry after the Retry-After header."
    default_code = "temporarily_unavailable"
    wait = 5


def _dpop_refusal(request: Any, error: str, description: str, *, code: str) -> exceptions.AuthenticationFailed:
    """A 401 whose ``WWW-Authenticate`` is a DPoP challenge (RFC 9449 §7.1) and whose API error code is ``code``."""
    request.META[_DPOP_CHALLENGE] = {"error": error, "error_description": description}
    if error == "use_dpop_nonce":
        request.META[DPOP_NONCE_OUT_META] = nonce_current()
    return exceptions.AuthenticationFailed(detail=description, code=code)


def _token_checksum(raw: str) -> str:
    # DOT stores tokens hashed (COMPLIANT_BCP_RFC9700_TOKEN_STORAGE): the lookup key is sha256 of the raw token.
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class _CompiledTokenLookup:
    """``AccessToken.objects.select_related("consent").filter(token_checksum=…)``, compiled by the ORM once.

    A deliberate use of Django's SQL compiler internals (``get_compiler``, ``klass_info``, ``get_converters``):
    the data API runs this lookup on every request, and building and compiling the queryset each time costs more
    than the database round trip. ``python -m benchmarks api`` measures what it buys on every run, in the same
    process, against the public queryset (``benchmarks/variants.py``); without it the transactions page falls
    short of its goal of 0.8 of the bare view (README, "Benchmarks"). The SQL, the column layout and the value
    converters are the ORM's own, so the instances are the ones the queryset would give (``tests/api`` compares
    them).
    """

    def __init__(self, alias: str) -> None:
        queryset = AccessToken.objects.using(alias).select_related("consent").filter(token_checksum="?")
        compiler = queryset.query.get_compiler(alias)
        self.sql, params = compiler.as_sql()
        if list(params) != ["?"]:  # pragma: no cover - the ORM changed shape; fail loudly rather than guess
            raise RuntimeError(f"unexpected parameters of the token lookup: {params!r}")
        self.alias = alias
        info = compiler.klass_info
        (consent_info,) = info["related_klass_infos"]
        self.token_columns = list(info["select_fields"])
        self.token_fields = [compiler.select[i][0].target.attname for i in self.token_columns]
        self.consent_columns = list(consent_info["select_fields"])
        self.consent_fields = [compiler.select[i][0].target.attname for i in self.consent_columns]
        self.consent_pk = self.consent_columns[self.consent_fields.index(Consent._meta.pk.attname)]
        self.converters = list(compiler.get_converters([col for col, _, _ in compiler.select]).items())

    def __call__(self, checksum: str) -> AccessToken | None:
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [checksum])
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for position, (converters, expression) in self.converters:
            value = row[position]
            for converter in converters:
                value = converter(value, expression, connection)
            row[position] = value
        token = AccessToken.from_db(self.alias, self.token_fields, [row[i] for i in self.token_columns])
        consent = None
        if row[self.consent_pk] is not None:
            consent = Consent.from_db(self.alias, self.consent_fields, [row[i] for i in self.consent_columns])
        AccessToken.consent.field.set_cached_value(token, consent)
        return token


_lookups: dict[str, _CompiledTokenLookup] = {}


def access_token_lookup(raw: str) -> AccessToken | None:
    """The access-token row of a raw bearer token with its consent loaded, in one query."""
    alias = router.db_for_read(AccessToken)
    lookup = _lookups.get(alias)
    if lookup is None:
        lookup = _lookups[alias] = _CompiledTokenLookup(alias)
    return lookup(_token_checksum(raw))


def _explain_rejected_token(request: Any) -> exceptions.APIException:
    """The token was refused; say why when we can (its consent ended), without ever accepting it."""
    raw = bearer_token_from_request(request)
    if raw is None:
        return _unauthenticated("not_authenticated", "Send an OAuth2 bearer token in the Authorization header.")
    # Not looked up yet when DOT's OAuth2Authentication authenticated the request (consent management endpoints).
    token = getattr(request, _LOOKED_UP) if hasattr(request, _LOOKED_UP) else access_token_lookup(raw)
    consent = token.consent if token is not None else None
    if consent is not None and consent.status == Consent.Status.REVOKED:
        return _unauthenticated("consent_revoked", "The consent behind this token has been revoked.")
    if consent is not None and consent.status == Consent.Status.EXPIRED:
        return _unauthenticated("consent_expired", "The consent behind this token has expired.")
    return _unauthenticated("token_invalid", "The access token is invalid or has expired.")


def _token_scopes(token: AccessToken) -> set[str]:
    return set((token.scope or "").split())


def _application_gated(token: AccessToken) -> bool:
    """Whether the token's application has a say (DOT asks ``Application.is_usable()``, which is ``True`` unless a
    swapped model overrides it; only then is the application loaded)."""
    if token.application_id is None:
        return False
    return type(token).application.field.related_model.is_usable is not AbstractApplication.is_usable


def _invalid_token(description: str) -> dict[str, str]:
    return {"error": "invalid_token", "error_description": description}


class ConsentTokenAuthentication(BaseAuthentication):
    """OAuth2 bearer tokens issued by django-oauth-toolkit, validated in one query that also loads the consent.

    The same rules as DOT's ``OAuth2Authentication`` with ``COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT``: the
    token comes from the ``Authorization: Bearer`` header only (a request with ``access_token`` in its query
    string is refused outright); an unknown or expired token, a token restricted to other resources (RFC 8707)
    or one whose application is not usable does not authenticate. Token deletion is DOT's revocation, so a
    revoked token is an unknown one. Scopes are checked per view by :class:`ConsentRequired`. The
    ``WWW-Authenticate`` challenge of a ``401`` is DOT's (``Bearer realm="api"`` plus ``error`` and
    ``error_description`` when a token was sent and refused).

    DPoP (RFC 9449 §7): a token bound to a key (``jkt``, issued to a request with a DPoP proof) is accepted only as
    ``Authorization: DPoP <token>`` with a ``DPoP`` proof for this method and URL, carrying ``ath`` of the token
    and signed by that key (:mod:`consent.fapi.dpop`); sent as ``Bearer`` it is refused, and so is an unbound
    token sent as ``DPoP``. Refusals are ``401`` with ``WWW-Authenticate: DPoP error="…"`` (``invalid_dpop_proof``,
    ``use_dpop_nonce`` with a ``DPoP-Nonce`` header, ``invalid_token``) and the API error code of the same name
    (``token_invalid`` for ``invalid_token``). An unreachable replay cache is ``503`` (fail closed).
    """

    www_authenticate_realm = "api"

    def authenticate(self, request: Any) -> tuple[Any, AccessToken] | None:
        if "access_token" in request.query_params:
            return None  # RFC 9700 §4.3.2: never a token in the URL (DOT refuses the request the same way)
        # oauthlib's reading of the header: exactly two words, the scheme case-insensitive.
        parts = request.META.get("HTTP_AUTHORIZATION", "").split()
        if len(parts) != 2:
            return None
        scheme = parts[0].lower()
        if scheme == "dpop":
            return self._authenticate_dpop(request, parts[1])
        if scheme != "bearer":
            return None
        token = access_token_lookup(parts[1])
        setattr(request, _LOOKED_UP, token)
        if token is None:
            request.oauth2_error = _invalid_token("The access token is invalid.")
            return None
        if token.jkt:
            raise _dpop_refusal(
                request,
                "invalid_token",
                "This access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof.",
                code="token_invalid",
            )
        return self._accept(request, token)

    def _authenticate_dpop(self, request: Any, raw: str) -> tuple[Any, AccessToken] | None:
        try:
            proof = dpop_proof_verify(
                proof=request.META.get("HTTP_DPOP"),
                method=request.method,
                url=request.build_absolute_uri(request.path),
                access_token=raw,
            )
        except DPoPError as error:
            if error.error == "use_dpop_nonce":
                raise _dpop_refusal(request, error.error, error.description, code="use_dpop_nonce") from None
            raise _dpop_refusal(request, error.error, error.description, code="invalid_dpop_proof") from None
        except ReplayCheckUnavailable:
            raise _ReplayCheckUnavailable() from None
        token = access_token_lookup(raw)
        setattr(request, _LOOKED_UP, token)
        if token is None:
            request.META[_DPOP_CHALLENGE] = request.oauth2_error = _invalid_token("The access token is invalid.")
            return None
        if not token.jkt:
            raise _dpop_refusal(
                request, "invalid_token", "This access token is not DPoP-bound: send it as a Bearer token.",
                code="token_invalid",
            )  # fmt: skip
        if token.jkt != proof.jkt:
            raise _dpop_refusal(
                request,
                "invalid_dpop_proof",
                "The DPoP proof is signed by another key than the one the access token is bound to.",
                code="invalid_dpop_proof",
            )
        if proof.nonce_stale:
            request.META[DPOP_NONCE_OUT_META] = nonce_current()
        accepted = self._accept(request, token)
        if accepted is None:
            request.META[_DPOP_CHALLENGE] = request.oauth2_error
        return accepted

    def _accept(self, request: Any, token: AccessToken) -> tuple[Any, AccessToken] | None:
        if token.is_expired():
            request.oauth2_error = _invalid_token("The access token has expired.")
            return None
        if token.resource and not token.allows_audience(request.build_absolute_uri(request.path)):
            request.oauth2_error = _invalid_token("The access token is not valid for this resource.")
            return None
        if _application_gated(token) and not token.application.is_usable(request):
            request.oauth2_error = _invalid_token("The access token is invalid.")
            return None
        # The user is loaded only if someone asks for it (no data endpoint does).
        user = None if token.user_id is None else SimpleLazyObject(lambda: token.user)
        return user, token

    def authenticate_header(self, request: Any) -> str:
        challenge = request.META.get(_DPOP_CHALLENGE)
        if challenge is not None:
            attributes = {**challenge, "algs": " ".join(allowed_algorithms())}
            return "DPoP " + ", ".join(f'{k}="{v}"' for k, v in attributes.items())
        attributes = {"realm": self.www_authenticate_realm, **getattr(request, "oauth2_error", {})}
        return "Bearer " + ",".join(f'{k}="{v}"' for k, v in attributes.items())


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
        if AccessToken.consent.is_cached(token):  # ConsentTokenAuthentication loaded it with the token
            consent = token.consent
        else:
            consent = Consent.objects.select_related("application", "user").get(pk=token.consent_id)
        if consent.status == Consent.Status.REVOKED:
            raise _unauthenticated("consent_revoked", "The consent behind this token has been revoked.")
        # Time is up even if nobody has recorded it yet (the views record it first: ``consent_expire_if_due``).
        if consent.status == Consent.Status.EXPIRED or consent_time_is_up(consent=consent):
            raise _unauthenticated("consent_expired", "The consent behind this token has expired.")
        if consent.status != Consent.Status.AUTHORISED:
            raise _unauthenticated("token_invalid", "The consent behind this token is not authorised.")
        if consent_reconfirmation_lapsed(consent=consent):
            raise exceptions.PermissionDenied(
                "The user has not reconfirmed this consent within 90 days; access resumes once they do.",
                code="reconfirmation_required",
            )
        required = getattr(view, "required_permission", None)
        if required is not None and (required not in consent.permissions or required not in _token_scopes(token)):
            raise exceptions.PermissionDenied(
                f"The consent does not grant the '{required}' permission.", code="permission_missing"
            )
        if (
            Consent.Permission.PAYMENTS in consent.permissions
            and required != Consent.Permission.PAYMENTS
            and not getattr(view, "payment_token_allowed", False)
        ):
            # A payment token reaches its own payment consent and payment only: never the data endpoints.
            raise exceptions.PermissionDenied(
                "A payment token can only be used on the payment endpoints.", code="permission_missing"
            )
        request.consent = consent
        return True


class PaymentTokenOrClientRequired(BasePermission):
    """The payment endpoints that a TPP reads either way: with its client-credentials token (scope ``consents``;
    sets ``request.application``, ``request.consent = None``) or with the payment token of one payment consent
    (``ConsentRequired`` with permission ``payments``; sets ``request.consent``)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        token = request.auth
        if isinstance(token, AccessToken) and token.consent_id is None:
            allowed = ClientCredentialsRequired().has_permission(request, view)
            request.consent = None
            return allowed
        return ConsentRequired().has_permission(request, view)


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


class ConsentTokenAuthenticationScheme(DjangoOAuthToolkitScheme):
    """drf-spectacular: the data API's bearer tokens are DOT's, so they document as the same ``oauth2`` scheme."""

    target_class = "consent.api_auth.ConsentTokenAuthentication"
