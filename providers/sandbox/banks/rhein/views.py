"""Rhein: Berlin Group NextGenPSD2 XS2A v1.3.11, AIS subset, OAuth SCA approach.

Base ``/sandbox/rhein/v1/``. ``POST consents`` needs no token (a real ASPSP identifies the TPP by its eIDAS
certificate, which the sandbox cannot check); the consent is bound to the OAuth client that gets it authorised
at ``/sandbox/rhein/oauth/authorize?consent_id=…``. AIS calls need ``X-Request-ID`` (UUID), ``Consent-ID`` and
``Authorization: Bearer``.

Error statuses follow the NextGenPSD2 implementation guidelines: ``TOKEN_INVALID``/``TOKEN_EXPIRED`` 401,
``CONSENT_INVALID`` 401 (revoked/terminated/rejected or service not covered), ``CONSENT_EXPIRED`` 401,
``CONSENT_UNKNOWN`` 400 (Consent-ID header), ``RESOURCE_UNKNOWN`` 403 (account not in consent),
``FORMAT_ERROR``/``PARAMETER_NOT_SUPPORTED``/``PERIOD_INVALID`` 400, ``ACCESS_EXCEEDED`` 429.

frequencyPerDay: calls WITHOUT a ``PSU-IP-Address`` header are unattended. Each unattended call to an
account-specific endpoint (account details, balances, the FIRST page of a transaction listing) that is *served*
counts against (consent, account, sandbox calendar day); once frequencyPerDay accesses were served, further
unattended calls get 429 ``ACCESS_EXCEEDED`` (no Retry-After: it is a daily limit). Only accesses the bank
actually served count, as at a real ASPSP: a refused call (the 429 itself, or any other error) and a call spoilt
by an injected fault of the ``flaky`` user (500/503/429, truncated body — see ``faults``) do not, so a TPP that
retries a failed call does not lose its budget to the bank's own failure. Following ``_links.next`` (requests
with ``pageIndex`` > 0) and the account list ``GET /v1/accounts`` do not count.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import wraps

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ... import bankdata, faults
from ...models import SandboxConsent, SandboxToken
from ...oauth import consents
from ..common import counter_increment_below, counter_value, iso_datetime, json_response, money

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "account",
    "account_balances",
    "account_transactions",
    "accounts",
    "consent",
    "consent_status",
    "consents_create",
]

BANK = "rhein"
DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000
MAX_VALID_DAYS = 180
CASH_ACCOUNT_TYPES = {"current": "CACC", "savings": "SVGS", "credit_card": "CARD"}
BALANCE_TYPES = {"booked": "closingBooked", "available": "interimAvailable", "expected": "expected"}
SERVICES = ("accounts", "balances", "transactions")


class BGError(Exception):
    def __init__(self, status: int, code: str, text: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.status, self.code, self.text, self.headers = status, code, text, headers or {}


def _error_response(status: int, code: str, text: str, headers: dict[str, str] | None = None) -> HttpResponse:
    if status >= 500:  # the spec defines 500/503 without a body
        response = HttpResponse(status=status)
        for key, value in (headers or {}).items():
            response[key] = value
        return response
    body = {"tppMessages": [{"category": "ERROR", "code": code, "text": text[:500]}]}
    return json_response(body, status=status, headers=headers)


def _valid_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def bg_endpoint(methods: set[str]) -> Callable:
    """X-Request-ID check and echo, method dispatch, and tppMessages for every failure."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
            sent = request.headers.get("X-Request-ID", "")
            request_id = sent if _valid_uuid(sent) else str(uuid.uuid4())
            try:
                if request.method not in methods:
                    raise BGError(405, "SERVICE_INVALID", f"{request.method} is not supported here.")
                if not sent:
                    raise BGError(400, "FORMAT_ERROR", "The X-Request-ID header is missing.")
                if not _valid_uuid(sent):
                    raise BGError(400, "FORMAT_ERROR", "The X-Request-ID header must be a UUID.")
                response = view(request, *args, **kwargs)
            except BGError as exc:
                response = _error_response(exc.status, exc.code, exc.text, exc.headers)
            response["X-Request-ID"] = request_id
            return response

        return wrapper

    return decorator


# --- consents ------------------------------------------------------------------------------------------


def _parse_body(request: HttpRequest) -> dict:
    try:
        body = orjson.loads(request.body or b"null")
    except orjson.JSONDecodeError:
        raise BGError(400, "FORMAT_ERROR", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BGError(400, "FORMAT_ERROR", "The request body must be a JSON object.")
    return body


def _validate_access(access: object) -> dict:
    if not isinstance(access, dict) or not access:
        raise BGError(400, "FORMAT_ERROR", "access must be a non-empty object.")
    for key in ("availableAccounts", "availableAccountsWithBalance", "allPsd2"):
        if key in access and access[key] not in {"allAccounts", "allAccountsWithOwnerName"}:
            raise BGError(400, "FORMAT_ERROR", f"access.{key} must be allAccounts or allAccountsWithOwnerName.")
    for key in SERVICES:
        if key in access:
            refs = access[key]
            if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
                raise BGError(400, "FORMAT_ERROR", f"access.{key} must be a list of account references.")
    if not any(k in access for k in (*SERVICES, "availableAccounts", "availableAccountsWithBalance", "allPsd2")):
        raise BGError(400, "FORMAT_ERROR", "access grants nothing.")
    return access


@bg_endpoint({"POST"})
def consents_create(request: HttpRequest) -> HttpResponse:
    body = _parse_body(request)
    missing = [
        f
        for f in ("access", "recurringIndicator", "validUntil", "frequencyPerDay", "combinedServiceIndicator")
        if f not in body
    ]
    if missing:
        raise BGError(400, "FORMAT_ERROR", f"Missing field(s): {', '.join(missing)}.")
    access = _validate_access(body["access"])
    recurring, combined, frequency = (
        body["recurringIndicator"],
        body["combinedServiceIndicator"],
        body["frequencyPerDay"],
    )
    if not isinstance(recurring, bool) or not isinstance(combined, bool):
        raise BGError(400, "FORMAT_ERROR", "recurringIndicator and combinedServiceIndicator must be booleans.")
    if not isinstance(frequency, int) or isinstance(frequency, bool) or frequency < 1:
        raise BGError(400, "FORMAT_ERROR", "frequencyPerDay must be an integer >= 1.")
    try:
        valid_until = date.fromisoformat(str(body["validUntil"]))
    except ValueError:
        raise BGError(400, "FORMAT_ERROR", "validUntil must be an ISO date (YYYY-MM-DD).") from None
    today = bankdata.sandbox_now().date()
    if valid_until < today:
        raise BGError(400, "PERIOD_INVALID", "validUntil is in the past.")
    valid_until = min(valid_until, today + timedelta(days=MAX_VALID_DAYS))
    consent = consents.consent_create(
        bank=BANK,
        client=None,
        access=access,
        valid_until=valid_until,
        frequency_per_day=frequency if recurring else 1,
        recurring=recurring,
        combined_service=combined,
    )
    self_url = request.build_absolute_uri(f"/sandbox/rhein/v1/consents/{consent.pk}")
    body = {
        "consentStatus": consent.status,
        "consentId": consent.pk,
        "_links": {
            "scaOAuth": {"href": request.build_absolute_uri("/sandbox/rhein/.well-known/oauth-authorization-server")},
            "self": {"href": self_url},
            "status": {"href": f"{self_url}/status"},
        },
    }
    return json_response(body, status=201, headers={"Location": self_url, "ASPSP-SCA-Approach": "REDIRECT"})


def _get_consent(consent_id: str) -> SandboxConsent:
    item = SandboxConsent.objects.filter(bank=BANK, pk=consent_id).first()
    if item is None:
        raise BGError(403, "CONSENT_UNKNOWN", "Unknown consentId.")
    return consents.consent_refresh_expiry(consent=item)


@bg_endpoint({"GET", "DELETE"})
def consent(request: HttpRequest, consent_id: str) -> HttpResponse:
    item = _get_consent(consent_id)
    if request.method == "DELETE":
        if item.status in {"received", "valid", "partiallyAuthorised"}:
            consents.consent_revoke(consent=item)
        return HttpResponse(status=204)
    body = {
        "access": item.access,
        "recurringIndicator": item.recurring,
        "validUntil": item.valid_until.isoformat() if item.valid_until else bankdata.sandbox_now().date().isoformat(),
        "frequencyPerDay": item.frequency_per_day,
        "lastActionDate": (item.last_action_on or item.status_updated_at.date()).isoformat(),
        "consentStatus": item.status,
    }
    return json_response(body)


@bg_endpoint({"GET"})
def consent_status(request: HttpRequest, consent_id: str) -> HttpResponse:
    return json_response({"consentStatus": _get_consent(consent_id).status})


# --- AIS -----------------------------------------------------------------------------------------------


def _authenticate(request: HttpRequest) -> tuple[SandboxToken, SandboxConsent]:
    consent_id = request.headers.get("Consent-ID", "")
    if not consent_id:
        raise BGError(400, "FORMAT_ERROR", "The Consent-ID header is missing.")
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise BGError(401, "TOKEN_INVALID", "An OAuth2 bearer token is required.")
    token = (
        SandboxToken.objects.select_related("consent", "client").filter(bank=BANK, access_token=value.strip()).first()
    )
    if token is None or token.access_token_revoked or token.consent is None:
        raise BGError(401, "TOKEN_INVALID", "The access token is not valid.")
    if token.is_expired():
        raise BGError(401, "TOKEN_EXPIRED", "The access token has expired; refresh it.")
    if not SandboxConsent.objects.filter(bank=BANK, pk=consent_id).exists():
        raise BGError(400, "CONSENT_UNKNOWN", "The Consent-ID is unknown.")
    if token.consent_id != consent_id:
        raise BGError(401, "CONSENT_INVALID", "The Consent-ID does not match the access token.")
    item = consents.consent_refresh_expiry(consent=token.consent)
    if item.status == "expired":
        raise BGError(401, "CONSENT_EXPIRED", "The consent has expired (validUntil passed).")
    if item.status != "valid":
        raise BGError(401, "CONSENT_INVALID", f"The consent is {item.status}.")
    consents.consent_touch(consent=item, today=bankdata.sandbox_now().date())
    return token, item


def _allows(consent: SandboxConsent, service: str, acc: bankdata.SandboxAccount) -> bool:
    access = consent.access or {}
    if "allPsd2" in access:
        return True

    def listed(key: str) -> bool:
        refs = access.get(key)
        if not isinstance(refs, list):
            return False
        if not refs:  # bank-offered consent: the PSU picked the accounts at the bank
            return True
        return any(
            (r.get("iban") and r.get("iban") == acc.iban)
            or (r.get("maskedPan") and r.get("maskedPan") == acc.masked_pan)
            for r in refs
        )

    if service == "accounts":
        return (
            "availableAccounts" in access
            or "availableAccountsWithBalance" in access
            or any(listed(k) for k in SERVICES)
        )
    if service == "balances" and "availableAccountsWithBalance" in access:
        return True
    return listed(service)


def _consented_accounts(consent: SandboxConsent) -> list[bankdata.SandboxAccount]:
    wanted = set(consent.account_ids)
    return [a for a in bankdata.user_accounts(BANK, consent.username) if a.id in wanted]


def _account_of(consent: SandboxConsent, account_id: str, service: str) -> bankdata.SandboxAccount:
    acc = next((a for a in _consented_accounts(consent) if a.id == account_id), None)
    if acc is None:
        raise BGError(403, "RESOURCE_UNKNOWN", "The account is not addressed by this consent.")
    if not _allows(consent, service, acc):
        raise BGError(401, "CONSENT_INVALID", f"The consent does not cover {service} of this account.")
    return acc


def _unattended_counter(request: HttpRequest, consent: SandboxConsent, account_id: str) -> Callable[[], None] | None:
    """For an unattended account access: refuse it now if the day's budget is spent, else return the function that
    counts it once it is served (None when the PSU is present: no frequency limit)."""
    if request.headers.get("PSU-IP-Address"):
        return None
    key = f"freq:{consent.pk}:{account_id}:{bankdata.sandbox_now().date().isoformat()}"

    def exceeded() -> BGError:
        return BGError(
            429,
            "ACCESS_EXCEEDED",
            f"frequencyPerDay ({consent.frequency_per_day}) exceeded for this account today; "
            "retry tomorrow or with the PSU present (PSU-IP-Address).",
        )

    if counter_value(key) >= consent.frequency_per_day:
        raise exceeded()

    def count() -> None:
        if not counter_increment_below(key, consent.frequency_per_day):
            raise exceeded()  # a concurrent call took the last access

    return count


def _with_faults(
    token: SandboxToken, produce: Callable[[], HttpResponse], *, count: Callable[[], None] | None = None
) -> HttpResponse:
    """``produce`` under the flaky user's fault plan; ``count`` (frequencyPerDay) only when the answer is served."""
    fault = faults.fault_for_request(bank=BANK, client_id=token.client.client_id, username=token.username)

    def error(status: int, text: str, headers: dict[str, str]) -> HttpResponse:
        return _error_response(status, "ACCESS_EXCEEDED" if status == 429 else "INTERNAL_ERROR", text, headers)

    def produce_counted() -> HttpResponse:
        response = produce()  # may raise BGError: a refused call is not counted either
        if count is not None and response.status_code < 400 and not faults.fault_fails(fault):
            count()
        return response

    return faults.apply_fault(fault, produce_counted, error)


def _reference(acc: bankdata.SandboxAccount) -> dict:
    ref: dict = {"currency": acc.currency}
    if acc.iban:
        ref["iban"] = acc.iban
    elif acc.masked_pan:
        ref["maskedPan"] = acc.masked_pan
    else:
        ref["other"] = {"identification": acc.id[:35]}
    return ref


def _balance_json(bal: bankdata.SandboxBalance) -> dict:
    return {
        "balanceAmount": {"currency": bal.currency, "amount": money(bal.amount)},
        "balanceType": BALANCE_TYPES.get(bal.type, "interimBooked"),
        "creditLimitIncluded": bal.credit_line_included,
        "lastChangeDateTime": iso_datetime(bal.as_of),
        "referenceDate": bal.as_of.date().isoformat(),
    }


def _account_json(request: HttpRequest, consent: SandboxConsent, acc: bankdata.SandboxAccount, with_balance: bool):
    base = f"/sandbox/rhein/v1/accounts/{acc.id}"
    body: dict = {
        "resourceId": acc.id,
        "currency": acc.currency,
        "name": (acc.name or acc.id)[:70],
        "product": (acc.name or acc.type)[:35],
        "cashAccountType": CASH_ACCOUNT_TYPES.get(acc.type, "CACC"),
        "status": "enabled",
        "usage": "PRIV",
        "_links": {},
    }
    if acc.iban:
        body["iban"] = acc.iban
    if acc.masked_pan:
        body["details"] = f"Card {acc.masked_pan}"
    if acc.holder_name and (consent.access or {}).get("availableAccounts") == "allAccountsWithOwnerName":
        body["ownerName"] = acc.holder_name[:140]
    if _allows(consent, "balances", acc):
        body["_links"]["balances"] = {"href": request.build_absolute_uri(f"{base}/balances")}
        if with_balance:
            body["balances"] = [_balance_json(b) for b in bankdata.account_balances(BANK, consent.username, acc.id)]
    if _allows(consent, "transactions", acc):
        body["_links"]["transactions"] = {"href": request.build_absolute_uri(f"{base}/transactions")}
    return body


def _with_balance(request: HttpRequest) -> bool:
    raw = request.GET.get("withBalance", "false").lower()
    if raw not in {"true", "false"}:
        raise BGError(400, "FORMAT_ERROR", "withBalance must be true or false.")
    return raw == "true"


@bg_endpoint({"GET"})
def accounts(request: HttpRequest) -> HttpResponse:
    token, consent = _authenticate(request)
    with_balance = _with_balance(request)
    items = [a for a in _consented_accounts(consent) if _allows(consent, "accounts", a)]
    if not items:
        raise BGError(401, "CONSENT_INVALID", "The consent does not cover the account list.")

    def produce() -> HttpResponse:
        return json_response({"accounts": [_account_json(request, consent, a, with_balance) for a in items]})

    return _with_faults(token, produce)


@bg_endpoint({"GET"})
def account(request: HttpRequest, account_id: str) -> HttpResponse:
    token, consent = _authenticate(request)
    with_balance = _with_balance(request)
    acc = _account_of(consent, account_id, "accounts")
    count = _unattended_counter(request, consent, acc.id)

    def produce() -> HttpResponse:
        return json_response({"account": _account_json(request, consent, acc, with_balance)})

    return _with_faults(token, produce, count=count)


@bg_endpoint({"GET"})
def account_balances(request: HttpRequest, account_id: str) -> HttpResponse:
    token, consent = _authenticate(request)
    acc = _account_of(consent, account_id, "balances")
    count = _unattended_counter(request, consent, acc.id)

    def produce() -> HttpResponse:
        balances = [_balance_json(b) for b in bankdata.account_balances(BANK, consent.username, acc.id)]
        return json_response({"account": _reference(acc), "balances": balances})

    return _with_faults(token, produce, count=count)


def _transaction_json(tx: bankdata.SandboxTransaction) -> dict:
    item: dict = {
        "transactionId": tx.id,
        "valueDate": tx.value_date.isoformat(),
        "transactionAmount": {"currency": tx.currency, "amount": money(tx.amount)},
    }
    if tx.status == "booked":
        item["bookingDate"] = tx.booking_date.isoformat()
    party = (tx.merchant_name or tx.counterparty_name)[:70]
    if party:
        item["creditorName" if tx.amount < 0 else "debtorName"] = party
    if tx.description:
        item["remittanceInformationUnstructured"] = tx.description[:140]
    if tx.bank_transaction_code:
        item["bankTransactionCode"] = tx.bank_transaction_code
    if tx.category:
        item["additionalInformation"] = tx.category[:500]
    if tx.end_to_end_id:  # (rhein's payment initiation is not built yet; the ground truth already carries it)
        item["endToEndId"] = tx.end_to_end_id[:35]
    return item


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BGError(400, "FORMAT_ERROR", f"{name} must be an integer.") from None


def _date_param(request: HttpRequest, name: str) -> date | None:
    raw = request.GET.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BGError(400, "FORMAT_ERROR", f"{name} must be an ISO date (YYYY-MM-DD).") from None


@bg_endpoint({"GET"})
def account_transactions(request: HttpRequest, account_id: str) -> HttpResponse:
    booking_status = request.GET.get("bookingStatus")
    if booking_status is None:
        raise BGError(400, "FORMAT_ERROR", "The bookingStatus query parameter is required.")
    if booking_status not in {"booked", "pending", "both"}:
        raise BGError(400, "PARAMETER_NOT_SUPPORTED", "bookingStatus must be booked, pending or both.")
    for unsupported in ("deltaList", "entryReferenceFrom"):
        if unsupported in request.GET:
            raise BGError(400, "PARAMETER_NOT_SUPPORTED", f"{unsupported} is not supported by this ASPSP.")
    date_from, date_to = _date_param(request, "dateFrom"), _date_param(request, "dateTo")
    if date_from is None:
        raise BGError(400, "FORMAT_ERROR", "dateFrom is required (delta access is not supported).")
    if date_to and date_to < date_from:
        raise BGError(400, "PERIOD_INVALID", "dateTo is before dateFrom.")
    page_index = _int_param(request, "pageIndex", 0)
    per_page = _int_param(request, "itemsPerPage", DEFAULT_PAGE_SIZE)
    if page_index < 0 or not 1 <= per_page <= MAX_PAGE_SIZE:
        raise BGError(400, "FORMAT_ERROR", f"pageIndex must be >= 0 and itemsPerPage 1..{MAX_PAGE_SIZE}.")
    token, consent = _authenticate(request)
    acc = _account_of(consent, account_id, "transactions")
    # only the first page of a listing counts against frequencyPerDay
    count = _unattended_counter(request, consent, acc.id) if page_index == 0 else None
    booked_from = datetime.combine(date_from, time.min, tzinfo=UTC)
    booked_to = datetime.combine(date_to, time.max, tzinfo=UTC) if date_to else None

    def produce() -> HttpResponse:
        rows = bankdata.account_transactions(
            BANK, consent.username, acc.id, booked_from=booked_from, booked_to=booked_to
        )
        if booking_status != "both":
            rows = [t for t in rows if t.status == booking_status]
        total_pages = max(1, math.ceil(len(rows) / per_page))
        if page_index >= total_pages:
            raise BGError(400, "FORMAT_ERROR", f"pageIndex is beyond the last page ({total_pages - 1}).")
        chunk = rows[page_index * per_page : (page_index + 1) * per_page]
        report: dict = {}
        if booking_status in {"booked", "both"}:
            report["booked"] = [_transaction_json(t) for t in chunk if t.status == "booked"]
        if booking_status in {"pending", "both"}:
            report["pending"] = [_transaction_json(t) for t in chunk if t.status == "pending"]
        links: dict = {"account": {"href": request.build_absolute_uri(f"/sandbox/rhein/v1/accounts/{acc.id}")}}
        links["first"] = {"href": _page_url(request, 0, per_page)}
        links["last"] = {"href": _page_url(request, total_pages - 1, per_page)}
        if page_index > 0:
            links["previous"] = {"href": _page_url(request, page_index - 1, per_page)}
        if page_index + 1 < total_pages:
            links["next"] = {"href": _page_url(request, page_index + 1, per_page)}
        report["_links"] = links
        return json_response({"account": _reference(acc), "transactions": report})

    return _with_faults(token, produce, count=count)


def _page_url(request: HttpRequest, page_index: int, per_page: int) -> str:
    query = request.GET.copy()
    query["pageIndex"] = str(page_index)
    query["itemsPerPage"] = str(per_page)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
