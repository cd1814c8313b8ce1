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
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.views import AuthorizationView, TokenView
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.oauth2.rfc6749 import errors

from aggregator.models import Connection, Institution

from .models import Application, Consent
from .oauth import code_challenge_valid
from .oauth_errors import oauth_error_response
from .selectors import consent_is_authorisable, user_accounts_for_consent_screen, user_connections
from .services import ConsentStateError, consent_authorise, consent_reject

__all__ = ["PERMISSION_TEXT", "ConsentAuthorizationView", "ConsentTokenView", "error_page"]

# What each permission lets the TPP see, in plain words.
PERMISSION_TEXT = {
    "accounts": "The names, types, currencies and numbers of the accounts you choose.",
    "balances": "The current and available balances of those accounts.",
    "transactions": "The payments in and out of those accounts: amounts, dates, descriptions and payees.",
    "insights": "What we work out from those accounts: your income, regular payments, and warnings such as "
    "duplicate charges, unusual payments or the risk of going overdrawn.",
}

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
        params = {k: credentials.get(k) or "" for k in OAUTH_FIELDS if k not in {"scope", "consent_id"}}
        params["scope"] = " ".join(scopes)
        params["consent_id"] = str(consent.pk)
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
                consent_reject(consent=consent, user=request.user, reason="Denied on the consent screen.")
            except ConsentStateError as exc:
                return error_page(request, "This consent can no longer be changed", exc.messages[0], 409)
            return self._redirect_error(
                errors.AccessDeniedError, "The user denied the request.", credentials, application
            )
        if decision != "approve":
            return self._screen(scopes=scopes, credentials=credentials, application=application, consent=consent,
                                error="Choose Approve or Deny.", status=400)  # fmt: skip

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
                consent_authorise(consent=consent, user=request.user, accounts=accounts)
                auth_credentials["consent"] = consent
                uri, _headers, _body, _status = self.create_authorization_response(
                    request=request, scopes=" ".join(scopes), credentials=auth_credentials, allow=True
                )
        except OAuthToolkitError as error:
            return self.error_response(error, application)
        except ValidationError as exc:
            return error_page(request, "This consent can no longer be approved", " ".join(exc.messages), 409)
        return self.redirect(uri, application)


DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class ConsentTokenView(TokenView):
    """DOT's token endpoint without its device-code shortcut: DOT answers a device-code poll itself (``404
    device_not_found``) before oauthlib sees the grant type; we issue no device codes, so it is an
    ``unsupported_grant_type`` like any other grant we do not offer (RFC 6749 §5.2)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.POST.get("grant_type") == DEVICE_CODE_GRANT:
            return oauth_error_response(400, "unsupported_grant_type", "The device code grant is not supported.")
        return super().post(request, *args, **kwargs)
