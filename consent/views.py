"""The authorization endpoint with our consent screen (``/oauth/authorize/``).

The TPP sends the user here with a ``consent_id`` it created through ``POST /api/v1/consents``. The consent must
belong to the requesting client and still await authorisation (or be authorised with its tokens revoked, for its
own user to authorise again); the user picks the accounts to share (connecting a
bank first if needed) and approves or denies. Approval authorises the consent and mints an authorization code
bound to it in one transaction. An earlier approval is never re-used: ``approval_prompt=auto`` and the
application's ``skip_authorization`` flag are ignored.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.views import AuthorizationView, RevokeTokenView, TokenView
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.oauth2.rfc6749 import errors

from aggregator.models import Connection, Institution

from .fapi.dpop import dpop_proof_verify
from .fapi.errors import DPoPError, OAuthProtocolError, ReplayCheckUnavailable
from .fapi.nonce import nonce_current
from .fapi.par import par_claim, par_consume
from .fapi.profile import DPOP_JKT_META, ISSUER_META, issuer_identifier, par_required_for
from .models import Application, Consent
from .oauth import code_challenge_valid
from .oauth_errors import oauth_error_response
from .payment_views import PaymentAuthorisationError, payment_approve, payment_screen
from .selectors import consent_is_authorisable, user_accounts_for_consent_screen, user_connections
from .services import ConsentStateError, consent_authorise, consent_reject

__all__ = ["PERMISSION_TEXT", "ConsentAuthorizationView", "ConsentRevokeTokenView", "ConsentTokenView", "error_page"]

# What each permission lets the TPP see, in plain words.
PERMISSION_TEXT = {
    "accounts": "The names, types, currencies and numbers of the accounts you choose.",
    "balances": "The current and available balances of those accounts.",
    "transactions": "The payments in and out of those accounts: amounts, dates, descriptions and payees.",
    "payments": "Make the one payment you approved, from the account you chose, and follow its status.",
    "insights": "What we work out from those accounts: your income, regular payments, and warnings such as "
    "duplicate charges, unusual payments or the risk of going overdrawn.",
}

# Where a browser keeps the secrets of the pushed requests it claimed (consent.fapi.par): {request_uri: secret}.
PAR_SESSION_KEY = "consent_par_claims"
_PAR_SESSION_MAX = 8

OAUTH_FIELDS = ("client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
                "code_challenge_method", "consent_id")  # fmt: skip


class _ConsentProblem(Exception):
    def __init__(self, title: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.title, self.message, self.status = title, message, status


def _redirectable(error_cls: type[errors.OAuth2Error], description: str, credentials: dict) -> OAuthToolkitError:
    """An OAuth error sent back to the (already validated) redirect URI with the client's state."""
    oauth_error = error_cls(description=description, state=credentials.get("state"))
    oauth_error.redirect_uri = credentials["redirect_uri"]
    return OAuthToolkitError(error=oauth_error, redirect_uri=credentials["redirect_uri"])


def error_page(request: HttpRequest, title: str, message: str, status: int = 400) -> HttpResponse:
    response = render(request, "consent/error.html", {"title": title, "message": message}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@method_decorator(xframe_options_deny, name="dispatch")
@method_decorator(sensitive_post_parameters("code_challenge"), name="dispatch")
class ConsentAuthorizationView(AuthorizationView):
    template_name = "consent/authorize.html"

    # --- pushed authorization requests (RFC 9126) -------------------------------------------------------
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """With ``request_uri``, the pushed parameters replace the request's (RFC 9126 §4: only those count); a
        client that must push (FAPI 2.0, or ``FAPI2_REQUIRED``) is refused with loose parameters."""
        self.pushed_request_uri: str | None = None
        params = request.POST if request.method == "POST" else request.GET
        client_id = params.get("client_id")
        if "request_uri" not in params:
            application = Application.objects.filter(client_id=client_id).first() if client_id else None
            if request.method in ("GET", "POST") and par_required_for(application):
                return error_page(
                    request,
                    "This authorisation request cannot be completed",
                    "invalid_request: this app must push its authorization request first (POST /oauth/par/) and "
                    "send only client_id and request_uri here. Return to the app you came from and try again.",
                )
            return super().dispatch(request, *args, **kwargs)
        request_uri = params.get("request_uri")
        claims = dict(request.session.get(PAR_SESSION_KEY, {}))
        try:
            pushed = par_claim(client_id=client_id, request_uri=request_uri, claim_secret=claims.get(request_uri))
        except OAuthProtocolError as problem:
            return error_page(
                request,
                "This authorisation request cannot be completed",
                f"{problem.error}: {problem.description} Return to the app you came from and try again.",
            )
        if claims.get(request_uri) != pushed.claim_secret:
            claims[request_uri] = pushed.claim_secret
            request.session[PAR_SESSION_KEY] = dict(list(claims.items())[-_PAR_SESSION_MAX:])
        self.pushed_request_uri = request_uri
        if request.user.is_authenticated:  # otherwise the login redirect keeps the short URL
            if request.method == "POST":
                replaced = QueryDict(mutable=True)
                replaced.update(pushed.parameters)
                for name in ("csrfmiddlewaretoken", "decision"):
                    if name in request.POST:
                        replaced[name] = request.POST[name]
                replaced.setlist("accounts", request.POST.getlist("accounts"))
                request.POST = replaced
            else:
                extra = {k: request.GET[k] for k in ("connection",) if k in request.GET}
                query = urlencode({**pushed.parameters, **extra})
                request.GET = QueryDict(query)
                request.META["QUERY_STRING"] = query
        return super().dispatch(request, *args, **kwargs)

    def _consume_pushed(self, request: HttpRequest, client_id: str) -> None:
        """Approval or denial uses the pushed request (deleted): raises OAuthProtocolError if already used."""
        if self.pushed_request_uri is None:
            return
        claims = request.session.get(PAR_SESSION_KEY, {})
        par_consume(
            client_id=client_id,
            request_uri=self.pushed_request_uri,
            claim_secret=claims.get(self.pushed_request_uri),
        )

    # --- errors ----------------------------------------------------------------------------------------
    def error_response(self, error, application, **kwargs):  # type: ignore[no-untyped-def]
        redirect, response = OAuthLibMixin.error_response(self, error, **kwargs)
        if redirect and getattr(error.oauthlib_error, "redirect_uri", None):
            return self.redirect(response["url"], application)
        oauth_error = response["error"]
        return error_page(
            self.request,
            "This authorisation request cannot be completed",
            f"{oauth_error.error}: {oauth_error.description or 'invalid request'}. "
            "Return to the app you came from and try again.",
            status=oauth_error.status_code or 400,
        )

    def _redirect_error(self, error_cls: type[errors.OAuth2Error], description: str, credentials: dict, app):  # type: ignore[no-untyped-def]
        return self.error_response(_redirectable(error_cls, description, credentials), app)

    # --- shared checks ---------------------------------------------------------------------------------
    def _validate(self, params: Any) -> tuple[list[str], dict, Application, Consent]:
        """Run oauthlib's checks plus ours. Raises OAuthToolkitError or _ConsentProblem."""
        scopes, credentials = self.validate_authorization_request(self.request)
        application = Application.objects.get(client_id=credentials["client_id"])
        if credentials.get("code_challenge_method") != "S256" or params.get("code_challenge_method") != "S256":
            raise _redirectable(
                errors.InvalidRequestError,
                "PKCE is required with code_challenge_method=S256 (plain is not accepted).",
                credentials,
            )
        if not code_challenge_valid(credentials.get("code_challenge")):
            raise _redirectable(
                errors.InvalidRequestError,
                "code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636).",
                credentials,
            )
        raw_id = params.get("consent_id", "")
        try:
            consent_id = uuid.UUID(str(raw_id))
        except ValueError:
            raise _ConsentProblem(
                "Missing or malformed consent",
                "The app did not say which consent you are asked to approve (consent_id is missing or invalid).",
            ) from None
        consent = Consent.objects.select_related("application").filter(pk=consent_id).first()
        if consent is None or consent.application_id != application.pk:
            raise _ConsentProblem(
                "Unknown consent", "This consent does not exist or was not requested by this app.", status=404
            )
        if not consent_is_authorisable(consent=consent):
            raise _ConsentProblem(
                "This consent can no longer be approved",
                f"This consent is {consent.get_status_display().lower()}"
                + (" or its request has timed out" if consent.status == Consent.Status.AWAITING_AUTHORISATION else "")
                + ". Ask the app to start again.",
                status=409,
            )
        if consent.status == Consent.Status.AUTHORISED and consent.user_id != self.request.user.pk:
            # Authorising again (after the app's tokens were revoked) is for the consent's own user only.
            raise _ConsentProblem(
                "This consent belongs to someone else",
                "This consent was approved by another user; only they can approve it again.",
                status=403,
            )
        if not set(scopes) <= set(consent.permissions):
            raise _redirectable(
                errors.InvalidScopeError, "The requested scope exceeds the consent's permissions.", credentials
            )
        return scopes, credentials, application, consent

    def _screen(  # type: ignore[no-untyped-def]
        self, *, scopes, credentials, application, consent, selected=(), error="", status=200, new_connection=None
    ):
        user = self.request.user
        if self.pushed_request_uri is not None:  # the parameters stay on our side: the form names the push only
            params = {"client_id": credentials["client_id"], "request_uri": self.pushed_request_uri}
        else:
            params = {k: credentials.get(k) or "" for k in OAUTH_FIELDS if k not in {"scope", "consent_id"}}
            params["scope"] = " ".join(scopes)
            params["consent_id"] = str(consent.pk)
        if consent.payment_consent_id is not None:
            return payment_screen(self.request, application=application, consent=consent, params=params, error=error,
                                  status=status)  # fmt: skip
        here = "/oauth/authorize/?" + urlencode(params)
        connect_next = urlencode({"next": here})
        accounts = list(user_accounts_for_consent_screen(user=user))
        connections = list(user_connections(user=user))
        connected = {c.institution_id for c in connections if c.status == Connection.Status.ACTIVE}
        context = {
            "application": application,
            "consent": consent,
            "permissions": [(p, Consent.Permission(p).label, PERMISSION_TEXT[p]) for p in consent.permissions],
            "oauth_params": params,
            "accounts": accounts,
            "selected": {str(s) for s in selected},
            "connections": connections,
            "institutions": [
                (inst, f"/connect/{inst.slug}/start/?{connect_next}", inst.pk in connected)
                for inst in Institution.objects.filter(is_active=True).order_by("name")
            ],
            "new_connection": new_connection,
            "error": error,
        }
        response = render(self.request, self.template_name, context, status=status)
        response["Cache-Control"] = "no-store"
        return response

    # --- GET: show the consent screen ------------------------------------------------------------------
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            scopes, credentials, application, consent = self._validate(request.GET)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        except _ConsentProblem as problem:
            return error_page(request, problem.title, problem.message, problem.status)
        selected: list[str] = []
        new_connection = None
        connection_id = request.GET.get("connection")
        if connection_id:
            # Just back from the bank: announce the connection and pre-select its accounts.
            new_connection = next(
                (c for c in user_connections(user=request.user) if str(c.public_id) == connection_id), None
            )
            selected = [
                str(a.public_id)
                for a in user_accounts_for_consent_screen(user=request.user)
                if str(a.connection.public_id) == connection_id
            ]
        return self._screen(
            scopes=scopes, credentials=credentials, application=application, consent=consent, selected=selected,
            new_connection=new_connection,
        )  # fmt: skip

    # --- POST: approve or deny -------------------------------------------------------------------------
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            scopes, credentials, application, consent = self._validate(request.POST)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        except _ConsentProblem as problem:
            return error_page(request, problem.title, problem.message, problem.status)

        auth_credentials = {
            "client_id": credentials["client_id"],
            "redirect_uri": credentials["redirect_uri"],
            "response_type": credentials.get("response_type"),
            "state": credentials.get("state"),
            "code_challenge": credentials.get("code_challenge"),
            "code_challenge_method": "S256",
        }
        decision = request.POST.get("decision")
        if decision == "deny":
            try:
                with transaction.atomic():
                    self._consume_pushed(request, credentials["client_id"])
                    consent_reject(consent=consent, user=request.user, reason="Denied on the consent screen.")
            except OAuthProtocolError as problem:
                return error_page(request, "This authorisation request was already used", problem.description)
            except ConsentStateError as exc:
                return error_page(request, "This consent can no longer be changed", exc.messages[0], 409)
            return self._redirect_error(
                errors.AccessDeniedError, "The user denied the request.", credentials, application
            )
        if decision != "approve":
            return self._screen(scopes=scopes, credentials=credentials, application=application, consent=consent,
                                error="Choose Approve or Deny.", status=400)  # fmt: skip
        if consent.payment_consent_id is not None:
            # A payment: the user goes to the bank's SCA now; the code is issued when the bank sends them back.
            try:
                return payment_approve(request, consent=consent, credentials=credentials, scopes=scopes)
            except PaymentAuthorisationError as exc:
                if exc.status == 400:
                    return self._screen(scopes=scopes, credentials=credentials, application=application,
                                        consent=consent, error=str(exc), status=400)  # fmt: skip
                return error_page(request, "The payment could not be started", str(exc), exc.status)

        wanted = request.POST.getlist("accounts")
        try:
            wanted_ids = {uuid.UUID(v) for v in wanted}
        except ValueError:
            wanted_ids = set()
        # Re-checked here, server-side: only the user's own accounts on active connections count.
        accounts = list(user_accounts_for_consent_screen(user=request.user).filter(public_id__in=wanted_ids))
        if not wanted or len(accounts) != len(wanted_ids) or len(wanted_ids) != len(set(wanted)):
            return self._screen(
                scopes=scopes, credentials=credentials, application=application, consent=consent,
                selected=[str(a.public_id) for a in accounts],
                error="Tick at least one of your own accounts to share." if not wanted
                else "Some of the accounts you chose are not available.",
                status=400,
            )  # fmt: skip
        try:
            with transaction.atomic():
                self._consume_pushed(request, credentials["client_id"])
                consent_authorise(consent=consent, user=request.user, accounts=accounts)
                auth_credentials["consent"] = consent
                uri, _headers, _body, _status = self.create_authorization_response(
                    request=request, scopes=" ".join(scopes), credentials=auth_credentials, allow=True
                )
        except OAuthToolkitError as error:
            return self.error_response(error, application)
        except OAuthProtocolError as problem:
            return error_page(request, "This authorisation request was already used", problem.description)
        except ValidationError as exc:
            return error_page(request, "This consent can no longer be approved", " ".join(exc.messages), 409)
        return self.redirect(uri, application)


DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def dpop_error_response(error: DPoPError) -> HttpResponse:
    """``400 invalid_dpop_proof`` / ``use_dpop_nonce`` (RFC 9449 §5, §8), the latter with a ``DPoP-Nonce``."""
    response = oauth_error_response(error.status, error.error, error.description)
    if error.error == "use_dpop_nonce":
        response["DPoP-Nonce"] = nonce_current()
    return response


def _replay_check_unavailable() -> HttpResponse:
    response = oauth_error_response(
        503, "temporarily_unavailable", "The replay check is unavailable; retry after the Retry-After header."
    )
    response["Retry-After"] = "5"
    return response


class ConsentTokenView(TokenView):
    """DOT's token endpoint, plus DPoP and our issuer for ``private_key_jwt``.

    Without DOT's device-code shortcut: DOT answers a device-code poll itself (``404 device_not_found``) before
    oauthlib sees the grant type; we issue no device codes, so it is an ``unsupported_grant_type`` like any other
    grant we do not offer (RFC 6749 §5.2). A ``DPoP`` header is checked here (RFC 9449 §4.3, ``htu`` = this
    endpoint); the key's thumbprint goes to the validator, which binds the tokens to it."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.POST.get("grant_type") == DEVICE_CODE_GRANT:
            return oauth_error_response(400, "unsupported_grant_type", "The device code grant is not supported.")
        request.META[ISSUER_META] = issuer_identifier(request)
        request.META.pop(DPOP_JKT_META, None)
        proof = None
        if "HTTP_DPOP" in request.META:
            try:
                proof = dpop_proof_verify(
                    proof=request.META["HTTP_DPOP"], method="POST", url=request.build_absolute_uri(request.path)
                )
            except DPoPError as error:
                return dpop_error_response(error)
            except ReplayCheckUnavailable:
                return _replay_check_unavailable()
            request.META[DPOP_JKT_META] = proof.jkt
        response = super().post(request, *args, **kwargs)
        if proof is not None and proof.nonce_stale:
            response["DPoP-Nonce"] = nonce_current()
        return response


class ConsentRevokeTokenView(RevokeTokenView):
    """DOT's revocation endpoint (RFC 7009), with our issuer for ``private_key_jwt`` client authentication."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.META[ISSUER_META] = issuer_identifier(request)
        return super().post(request, *args, **kwargs)
