"""The banks' OAuth endpoints and their login / account-selection pages.

Flow (per bank): ``GET oauth/authorize`` validates the request with authlib (client, redirect URI, PKCE) and the
bank-side ``consent_id``, parks it in the Django session and redirects to ``oauth/login/<txn>/`` (form fields
``username``, ``password``) → ``oauth/select/<txn>/`` (checkboxes ``accounts``, all ticked; buttons
``action=approve`` / ``action=deny``) → redirect to the client's ``redirect_uri`` with ``code`` and ``state`` (or
``error=access_denied``). ``POST oauth/token`` is authlib's token endpoint.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import OAuth2Error
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import bankdata
from ..models import SandboxConsent
from ..payments.services import payment_authorisation_decided
from . import consents, dialects
from .server import BANK_OAUTH, PSU, TOKEN_AUTH_METHODS, oauth_request_from_params, server_for

__all__ = ["authorize", "login", "metadata", "select", "token"]

# Each bank's one name (fixtures/sandbox/banks.json; the aggregator's Institution rows use it too) and its dialect.
_DIALECTS = {
    "albion": "UK, Open Banking v3.1.11",
    "rhein": "EU, Berlin Group NextGenPSD2 1.3.11",
    "liberty": "US, cursor-delta API",
}
BANK_TITLES = {bank: f"{bankdata.bank_info(bank)['name']} ({dialect})" for bank, dialect in _DIALECTS.items()}
_SESSION_PREFIX = "sandbox_authz_"


def _check_bank(bank: str) -> None:
    if bank not in BANK_OAUTH:
        raise Http404("unknown sandbox bank")


def _base(request: HttpRequest, bank: str) -> str:
    return request.build_absolute_uri(f"/sandbox/{bank}")


def _error_page(
    request: HttpRequest, bank: str, message: str, status: int = 400, oauth_error: str = ""
) -> HttpResponse:
    """The bank's error page; ``oauth_error`` (the RFC 6749 code, when there is one) is in the page for tools."""
    context = {"bank": bank, "title": BANK_TITLES[bank], "message": message, "oauth_error": oauth_error}
    return render(request, "sandbox/error.html", context, status=status)


def _redirect_error(redirect_uri: str, state: str | None, error: str, description: str) -> HttpResponseRedirect:
    params = {"error": error, "error_description": description}
    if state:
        params["state"] = state
    sep = "&" if "?" in redirect_uri else "?"
    return HttpResponseRedirect(f"{redirect_uri}{sep}{urlencode(params)}")


@require_GET
def metadata(request: HttpRequest, bank: str) -> JsonResponse:
    """RFC 8414 authorization server metadata."""
    _check_bank(bank)
    base = _base(request, bank)
    body = {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": BANK_OAUTH[bank]["grant_types"],
        "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(dialects.BANK_SCOPES[bank]),
        "service_documentation": request.build_absolute_uri("/sandbox/"),
        # Not in RFC 8414: sandbox-specific hints.
        "pkce_required": BANK_OAUTH[bank]["pkce_required"],
        "consent_id_parameter_required": bank != "liberty",
        # How the standard names the consent instead (providers/sandbox/oauth/dialects.py): OBIE's request
        # object (openbanking_intent_id claim, HS256 with the client secret), Berlin Group's scope AIS:<id>.
        **(
            {"request_parameter_supported": True, "request_object_signing_alg_values_supported": ["HS256"]}
            if bank == "albion"
            else {}
        ),
        **({"consent_scope_prefixes_supported": ["AIS:"]} if bank == "rhein" else {}),
    }
    return JsonResponse(body)


@csrf_exempt
@require_POST
def token(request: HttpRequest, bank: str) -> HttpResponse:
    _check_bank(bank)
    response = server_for(bank).create_token_response(request)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _txn(request: HttpRequest, bank: str, txn: str) -> dict | None:
    data = request.session.get(_SESSION_PREFIX + txn)
    if not data or data.get("bank") != bank:
        return None
    return data


@never_cache
@require_GET
def authorize(request: HttpRequest, bank: str) -> HttpResponse:
    _check_bank(bank)
    server = server_for(bank)
    params = request.GET.dict()
    misdirected: dialects.ConsentReferenceError | None = None
    if params.get("request"):  # an OIDC request object (OBIE): its parameters and intent id win
        params, misdirected = _apply_request_object(server, params)
    oauth_request = oauth_request_from_params(params)
    try:
        grant = server.get_consent_grant(oauth_request)
    except OAuth2Error as error:
        if error.redirect_uri:  # the client and redirect URI are trusted: report the error to the client
            return server.handle_error_response(oauth_request, error)
        return _error_page(
            request, bank, f"Invalid authorization request: {error.description or error.error}", oauth_error=error.error
        )
    redirect_uri = grant.redirect_uri
    state = params.get("state")
    client = grant.client
    if misdirected is not None:
        return _redirect_error(redirect_uri, state, misdirected.error, misdirected.description)
    try:
        consent_id, named_by = dialects.consent_reference(bank, params)
    except dialects.ConsentReferenceError as exc:
        return _redirect_error(redirect_uri, state, exc.error, exc.description)
    # a consent named in the scope (Berlin Group AIS:<consentId>) that is not this client's is a bad scope
    unknown_error = "invalid_scope" if named_by == "scope" else "invalid_request"

    if bank == "liberty":
        consent = consents.consent_create(bank=bank, client=client)
    else:
        if not consent_id:
            return _redirect_error(redirect_uri, state, "invalid_request", "Missing 'consent_id' parameter.")
        consent = SandboxConsent.objects.filter(bank=bank, pk=consent_id).first()
        if consent is None or (consent.client_id is not None and consent.client_id != client.pk):
            return _redirect_error(redirect_uri, state, unknown_error, "Unknown consent id for this client.")
        if consent.client_id is None:
            # A consent created without a client (Berlin Group: the TPP is its certificate, which the sandbox
            # lacks) belongs to the first client that asks the PSU to authorise it: no other TPP can use it.
            SandboxConsent.objects.filter(pk=consent.pk, client__isnull=True).update(client=client)
            consent.refresh_from_db(fields=["client"])
            if consent.client_id != client.pk:
                return _redirect_error(redirect_uri, state, unknown_error, "Unknown consent id for this client.")
        consents.consent_refresh_expiry(consent=consent)
        if consent.status != consents.AWAITING_STATUS[bank]:
            return _redirect_error(
                redirect_uri, state, "invalid_request", f"Consent is {consent.status}, not awaiting authorisation."
            )
        # A payment consent needs the payment scope (albion ``payments``, rhein ``PIS:<paymentId>``); an
        # account-access consent is never authorised under a Berlin Group PIS: scope. (Tokens are bound to
        # their consent: an account-access token cannot pay whatever its scope says, nor a payment token read.)
        is_payment = consent.kind == SandboxConsent.KIND_PAYMENT
        scope = params.get("scope")
        if (is_payment and not dialects.asks_for_payment(scope)) or (
            not is_payment and named_by == "scope" and "PIS:" in (scope or "")
        ):
            return _redirect_error(
                redirect_uri, state, "invalid_scope", "The scope does not match the consent (payments or accounts)."
            )
    txn = secrets.token_urlsafe(12)
    request.session[_SESSION_PREFIX + txn] = {
        "bank": bank,
        "params": params,
        "consent_id": consent.pk,
        "username": "",
    }
    return HttpResponseRedirect(reverse("sandbox:oauth-login", kwargs={"bank": bank, "txn": txn}))


def _apply_request_object(
    server: Any, params: dict[str, str]
) -> tuple[dict[str, str], dialects.ConsentReferenceError | None]:
    """The request's parameters with its request object applied, and the error to report to the client (once
    it and its redirect URI are validated) when the request object is bad or names another consent."""
    query = {k: v for k, v in params.items() if k != "request"}
    client = server.query_client(params.get("client_id", ""))
    if client is None:
        return query, None  # authlib reports the unknown client
    try:
        carried = dialects.request_object_params(
            params["request"], client_id=client.client_id, client_secret=client.client_secret
        )
    except dialects.ConsentReferenceError as exc:
        return query, exc
    if query.get("consent_id") and carried.get("consent_id") and query["consent_id"] != carried["consent_id"]:
        error = dialects.ConsentReferenceError(
            "invalid_request", "'consent_id' and the request object's openbanking_intent_id differ."
        )
        return query, error
    return {**query, **carried}, None


@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest, bank: str, txn: str) -> HttpResponse:
    _check_bank(bank)
    data = _txn(request, bank, txn)
    if data is None:
        return _error_page(request, bank, "This login session has expired. Start again from the app.")
    context = {"bank": bank, "title": BANK_TITLES[bank], "users": bankdata.all_users(), "error": "", "username": ""}
    if request.method == "GET":
        return render(request, "sandbox/login.html", context)
    username = request.POST.get("username", "").strip()
    password = request.POST.get("password", "")
    user = bankdata.get_user(username)
    context["username"] = username
    if user is None or not bankdata.user_exists(bank, username) or password != user.password:
        context["error"] = "Unknown username or wrong password."
        return render(request, "sandbox/login.html", context, status=401)
    if user.behaviour == "locked":
        context["error"] = "This account is locked. Online banking access has been suspended: please call us."
        return render(request, "sandbox/login.html", context, status=403)
    request.session.cycle_key()  # new session id after login (session fixation)
    data["username"] = username
    request.session[_SESSION_PREFIX + txn] = data
    return HttpResponseRedirect(reverse("sandbox:oauth-select", kwargs={"bank": bank, "txn": txn}))


@never_cache
@require_http_methods(["GET", "POST"])
def select(request: HttpRequest, bank: str, txn: str) -> HttpResponse:
    _check_bank(bank)
    data = _txn(request, bank, txn)
    if data is None or not data.get("username"):
        return _error_page(request, bank, "This login session has expired. Start again from the app.")
    username = data["username"]
    consent = SandboxConsent.objects.select_related("client").filter(bank=bank, pk=data["consent_id"]).first()
    if consent is None:
        return _error_page(request, bank, "The consent no longer exists.")
    accounts = list(bankdata.user_accounts(bank, username))
    payment = getattr(consent, "payment", None) if consent.kind == SandboxConsent.KIND_PAYMENT else None
    if payment is not None:
        # One debtor account: the one the TPP named (the bank checks its currency when it executes), else any
        # of the user's payment accounts in the payment's currency.
        accounts = [
            a
            for a in accounts
            if a.type != "credit_card"
            and (a.id == payment.debtor_account_id if payment.debtor_account_id else a.currency == payment.currency)
        ]
        if not accounts:
            return _error_page(request, bank, "None of your accounts can make this payment.", status=403)
    server = server_for(bank)
    oauth_request = oauth_request_from_params(data["params"])
    try:
        grant = server.get_consent_grant(oauth_request)
    except OAuth2Error as error:
        return _error_page(request, bank, f"Invalid authorization request: {error.description or error.error}")
    context = {
        "bank": bank,
        "title": BANK_TITLES[bank],
        "username": username,
        "accounts": accounts,
        "consent": consent,
        "client": grant.client,
        "selected": {a.id for a in accounts} if payment is None else {accounts[0].id},
        "payment": payment,
        "error": "",
    }
    template = "sandbox/select.html" if payment is None else "sandbox/pay.html"
    if request.method == "GET":
        return render(request, template, context)

    action = request.POST.get("action", "")
    if action not in {"approve", "deny"}:
        context["error"] = "Choose Approve or Deny."
        return render(request, template, context, status=400)
    consents.consent_refresh_expiry(consent=consent)
    if consent.status != consents.AWAITING_STATUS[bank]:
        return _error_page(request, bank, f"The consent is {consent.status}; it can no longer be authorised.")
    if action == "deny":
        consents.consent_reject(consent=consent, username=username)
        if payment is not None:
            payment_authorisation_decided(consent=consent, username=username, account_id="", approved=False)
        del request.session[_SESSION_PREFIX + txn]
        return server.create_authorization_response(request=oauth_request, grant_user=None, grant=grant)
    wanted = request.POST.getlist("accounts")
    chosen = [a.id for a in accounts if a.id in set(wanted)]
    if not chosen or (payment is not None and len(chosen) != 1):
        context["error"] = (
            "Select at least one account, or deny access." if payment is None else "Select the account to pay from."
        )
        context["selected"] = set()
        return render(request, template, context, status=400)
    consents.consent_authorise(consent=consent, username=username, account_ids=chosen, client=grant.client)
    if payment is not None:
        payment_authorisation_decided(consent=consent, username=username, account_id=chosen[0], approved=True)
    del request.session[_SESSION_PREFIX + txn]
    return server.create_authorization_response(
        request=oauth_request, grant_user=PSU(username, consent.pk), grant=grant
    )
