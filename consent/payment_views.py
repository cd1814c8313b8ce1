"""The payment side of the consent screen: the user sees the payment plainly (amount, payee, reference), picks the
account to pay from, and goes to the bank's own SCA; the bank's redirect comes back to :func:`payment_callback`,
which authorises the consent and only then issues the TPP's authorization code (scope ``payments``).

The OAuth parameters of the TPP's request wait in the user's session during the bank round trip (keyed by the
payment consent); nothing of the TPP's request is trusted from the bank's redirect.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from aggregator.models import Account, Institution
from aggregator.payments.consents import (
    PaymentAuthorisationError,
    account_supports_payments,
    payment_consent_authorisation_start,
)
from aggregator.payments.models import PaymentConsent

from .models import Application, Consent
from .selectors import user_accounts_for_consent_screen, user_connections

__all__ = [
    "AUTH_FIELDS",
    "SESSION_KEY",
    "PaymentAuthorisationError",
    "error_page",
    "payment_accounts",
    "payment_approve",
    "payment_screen",
]

logger = logging.getLogger(__name__)

SESSION_KEY = "payment_authorize:{}"
AUTH_FIELDS = ("client_id", "redirect_uri", "response_type", "state", "code_challenge", "code_challenge_method")


def payment_accounts(*, user: Any, payment_consent: PaymentConsent) -> list[Account]:
    """The user's accounts that can make this payment: same currency, at a bank offering payments (only the
    account the TPP fixed, when it did)."""
    accounts = user_accounts_for_consent_screen(user=user).filter(currency=payment_consent.currency)
    if payment_consent.debtor_fixed:
        accounts = accounts.filter(pk=payment_consent.debtor_account_id)
    return [a for a in accounts if account_supports_payments(a)]


def payment_screen(
    request: HttpRequest, *, application: Application, consent: Consent, params: dict[str, str], error: str = "",
    status: int = 200,
) -> HttpResponse:  # fmt: skip
    payment_consent = PaymentConsent.objects.get(pk=consent.payment_consent_id)
    here = "/oauth/authorize/?" + urlencode(params)
    connect_next = urlencode({"next": here})
    connections = list(user_connections(user=request.user))
    connected = {c.institution_id for c in connections if c.status == "active"}
    accounts = payment_accounts(user=request.user, payment_consent=payment_consent)
    context = {
        "application": application,
        "consent": consent,
        "payment": payment_consent,
        "oauth_params": params,
        "accounts": accounts,
        "institutions": [
            (inst, f"/connect/{inst.slug}/start/?{connect_next}", inst.pk in connected)
            for inst in Institution.objects.filter(is_active=True).order_by("name")
        ],
        "error": error,
    }
    response = render(request, "consent/authorize_payment.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


def payment_approve(request: HttpRequest, *, consent: Consent, credentials: dict, scopes: list[str]) -> HttpResponse:
    """Approve: start the bank's SCA for the chosen account and send the user there. ``None``-safe errors are
    rendered by the caller (``PaymentAuthorisationError``)."""
    payment_consent = PaymentConsent.objects.get(pk=consent.payment_consent_id)
    wanted = request.POST.get("debtor_account", "")
    account = next((a for a in payment_accounts(user=request.user, payment_consent=payment_consent)
                    if str(a.public_id) == wanted), None)  # fmt: skip
    if account is None:
        raise PaymentAuthorisationError("account_not_allowed", "Choose one of your accounts to pay from.")
    url = payment_consent_authorisation_start(
        consent=payment_consent,
        user=request.user,
        account=account,
        redirect_uri=request.build_absolute_uri(reverse("connections:connect-callback")),
        psu_ip_address=request.META.get("REMOTE_ADDR", ""),
    )
    saved = {k: credentials.get(k) or "" for k in AUTH_FIELDS}
    saved["scope"] = " ".join(scopes)
    request.session[SESSION_KEY.format(payment_consent.public_id)] = saved
    return HttpResponseRedirect(url)


def error_page(request: HttpRequest, title: str, message: str, status: int) -> HttpResponse:
    response = render(request, "consent/error.html", {"title": title, "message": message}, status=status)
    response["Cache-Control"] = "no-store"
    return response
