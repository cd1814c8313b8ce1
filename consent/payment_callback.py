"""The bank's redirect after its SCA of a payment (forwarded there by the connect callback, the URI registered at
the banks): authorise the payment consent and its OAuth consent, then issue the TPP's authorization code with the
OAuth parameters saved in the session when the user approved (``consent.payment_views``). A refusal at the bank goes
back to the TPP as ``access_denied``."""

from __future__ import annotations

import contextlib

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from oauth2_provider.exceptions import OAuthToolkitError
from oauthlib.oauth2.rfc6749 import errors

from aggregator.payments.consents import (
    PaymentAuthorisationError,
    payment_consent_authorisation_complete,
    payment_consent_for_bank_state,
)

from .models import Consent
from .payment_views import AUTH_FIELDS, SESSION_KEY, error_page
from .services import ConsentStateError, consent_authorise, consent_reject
from .views import ConsentAuthorizationView

__all__ = ["payment_callback"]


@never_cache
@require_GET
@login_required
def payment_callback(request: HttpRequest) -> HttpResponse:
    """The bank's redirect after its SCA of a payment (forwarded by the connect callback)."""
    state = request.GET.get("state", "")
    payment_consent = payment_consent_for_bank_state(state=state)
    saved = request.session.get(SESSION_KEY.format(payment_consent.public_id)) if payment_consent else None
    if payment_consent is None or not saved:
        return error_page(
            request,
            "Unknown payment authorisation",
            "This bank authorisation is unknown or was already used. Return to the app and start again.",
            400,
        )
    consent = Consent.objects.select_related("application").get(payment_consent=payment_consent)
    view = ConsentAuthorizationView()
    view.setup(request)
    try:
        payment_consent_authorisation_complete(
            state=state,
            code=request.GET.get("code", ""),
            error=request.GET.get("error", ""),
            user=request.user,
            psu_ip_address=request.META.get("REMOTE_ADDR", ""),
        )
    except PaymentAuthorisationError as exc:
        if exc.code == "bank_denied":
            request.session.pop(SESSION_KEY.format(payment_consent.public_id), None)
            with contextlib.suppress(ConsentStateError):  # already ended: the TPP still hears "denied"
                consent_reject(consent=consent, user=request.user, reason="Refused at the bank.")
            oauth_error = errors.AccessDeniedError(
                description="The user refused the payment at the bank.", state=saved.get("state")
            )
            oauth_error.redirect_uri = saved["redirect_uri"]
            return view.error_response(
                OAuthToolkitError(error=oauth_error, redirect_uri=saved["redirect_uri"]), consent.application
            )
        return error_page(request, "The payment could not be authorised", str(exc), exc.status)
    request.session.pop(SESSION_KEY.format(payment_consent.public_id), None)
    auth_credentials = {k: saved[k] for k in AUTH_FIELDS}
    auth_credentials["code_challenge_method"] = "S256"
    try:
        with transaction.atomic():
            consent_authorise(consent=consent, user=request.user, accounts=[payment_consent.debtor_account])
            auth_credentials["consent"] = consent
            uri, _headers, _body, _status = view.create_authorization_response(
                request=request, scopes=saved["scope"], credentials=auth_credentials, allow=True
            )
    except OAuthToolkitError as error:
        return view.error_response(error, consent.application)
    except ValidationError as exc:
        return error_page(request, "This payment can no longer be approved", " ".join(exc.messages), 409)
    return view.redirect(uri, consent.application)
