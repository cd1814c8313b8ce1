"""Albion: UK Open Banking (OBIE) Account and Transaction API v3.1.11, AISP subset.

Base ``/sandbox/albion/open-banking/v3.1/aisp/``. Consents are created with a client-credentials token; the PSU
endpoints need an authorization-code token bound to an ``Authorised`` consent. The consent's ``Permissions``
and ``TransactionFrom/ToDateTime`` are enforced. Transactions are served 500 per page (``page`` query parameter,
``Links.Next``, ``Meta.TotalPages``). A booked transaction that replaced a pending one carries
``SupplementaryData.PendingTransactionId``; every transaction carries ``SupplementaryData.Category``; the
debit of a payment initiated through albion's PIS API carries its ``SupplementaryData.EndToEndIdentification``
(OBTransaction6 has no end-to-end field; ``SupplementaryData`` is the spec's place for such extensions).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ... import bankdata, faults
from ...data.labels import merchant_category_code
from ...models import SandboxConsent, SandboxToken
from ...oauth import consents
from ..common import bearer_token, iso_date_midnight, iso_datetime, json_response, unsigned_money

__all__ = ["PAGE_SIZE", "account", "account_balances", "account_transactions", "accounts", "consent", "consents_create"]

BANK = "albion"
PAGE_SIZE = 500
PERMISSIONS = {
    "ReadAccountsBasic",
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadBeneficiariesBasic",
    "ReadBeneficiariesDetail",
    "ReadDirectDebits",
    "ReadOffers",
    "ReadPAN",
    "ReadParty",
    "ReadPartyPSU",
    "ReadProducts",
    "ReadScheduledPaymentsBasic",
    "ReadScheduledPaymentsDetail",
    "ReadStandingOrdersBasic",
    "ReadStandingOrdersDetail",
    "ReadStatementsBasic",
    "ReadStatementsDetail",
    "ReadTransactionsBasic",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
    "ReadTransactionsDetail",
}
SUBTYPES = {"current": "CurrentAccount", "savings": "Savings", "credit_card": "CreditCard"}
BALANCE_TYPES = {"booked": "InterimBooked", "available": "InterimAvailable", "expected": "Expected"}
_STATUS_TEXT = {400: "400 Bad Request", 403: "403 Forbidden", 429: "429 Too Many Requests", 500: "500 Internal Error"}


class OBError(Exception):
    def __init__(self, status: int, error_code: str, message: str, path: str = "") -> None:
        super().__init__(message)
        self.status, self.error_code, self.message, self.path = status, error_code, message, path


def _error_body(status: int, error_code: str, message: str, path: str = "") -> dict:
    error = {"ErrorCode": error_code, "Message": message[:500]}
    if path:
        error["Path"] = path
    return {
        "Code": _STATUS_TEXT.get(status, str(status)),
        "Id": str(uuid.uuid4()),
        "Message": message[:500],
        "Errors": [error],
    }


def _error_response(status: int, error_code: str, message: str, path: str = "", headers=None) -> HttpResponse:
    if status in {401, 405, 406, 415}:  # the spec defines these without a body
        response = HttpResponse(status=status)
        for key, value in (headers or {}).items():
            response[key] = value
        return response
    return json_response(_error_body(status, error_code, message, path), status=status, headers=headers)


def obie_endpoint(methods: set[str]) -> Callable:
    """Method dispatch, ``x-fapi-interaction-id`` echo, and OBErrorResponse1 for every failure."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
            interaction_id = request.headers.get("x-fapi-interaction-id") or str(uuid.uuid4())
            if request.method not in methods:
                response = HttpResponse(status=405)
                response["Allow"] = ", ".join(sorted(methods))
            else:
                try:
                    response = view(request, *args, **kwargs)
                except OBError as exc:
                    response = _error_response(exc.status, exc.error_code, exc.message, exc.path)
            response["x-fapi-interaction-id"] = interaction_id
            return response

        return wrapper

    return decorator


# --- authentication ------------------------------------------------------------------------------------


def _client_token(request: HttpRequest) -> SandboxToken:
    token = bearer_token(request, BANK)
    if token is None or token.consent_id is not None:
        raise OBError(401, "UK.OBIE.Header.Invalid", "A valid client-credentials access token is required.")
    return token


def _psu_token(request: HttpRequest) -> tuple[SandboxToken, SandboxConsent]:
    token = bearer_token(request, BANK)
    if token is None or token.consent is None:
        raise OBError(401, "UK.OBIE.Header.Invalid", "A valid PSU access token is required.")
    consent = token.consent
    if not consents.consent_is_active(consent=consent):
        status = consent.status if consent.status != "Authorised" else "Expired"
        raise OBError(403, "UK.OBIE.Resource.InvalidConsentStatus", f"The consent is {status}.")
    return token, consent


def _require(consent: SandboxConsent, *any_of: str) -> None:
    if not set(any_of) & set(consent.permissions):
        raise OBError(403, "UK.OBIE.Resource.ConsentMismatch", f"The consent does not grant {' or '.join(any_of)}.")


def _account_of(consent: SandboxConsent, account_id: str) -> bankdata.SandboxAccount:
    if account_id not in consent.account_ids:
        raise OBError(403, "UK.OBIE.Resource.ConsentMismatch", "The account is not part of this consent.")
    for acc in bankdata.user_accounts(BANK, consent.username):
        if acc.id == account_id:
            return acc
    raise OBError(400, "UK.OBIE.Resource.NotFound", "Unknown AccountId.")


def _with_faults(token: SandboxToken, produce: Callable[[], HttpResponse]) -> HttpResponse:
    fault = faults.fault_for_request(bank=BANK, client_id=token.client.client_id, username=token.username)

    def error(status: int, text: str, headers: dict[str, str]) -> HttpResponse:
        return _error_response(status, "UK.OBIE.UnexpectedError", text, headers=headers)

    return faults.apply_fault(fault, produce, error)


# --- parsing -------------------------------------------------------------------------------------------


def _parse_request_datetime(value: object, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise OBError(400, "UK.OBIE.Field.InvalidDate", f"{field} must be an ISO 8601 date-time.", field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise OBError(400, "UK.OBIE.Field.InvalidDate", f"{field} must be an ISO 8601 date-time.", field) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_query_datetime(request: HttpRequest, name: str) -> datetime | None:
    """Query filters: the time component is optional and any timezone is ignored (as the spec says)."""
    raw = request.GET.get(name)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace(" ", "+"))
    except ValueError:
        raise OBError(400, "UK.OBIE.Field.InvalidDate", f"{name} must be an ISO 8601 date-time.", name) from None
    return parsed.replace(tzinfo=UTC)


# --- consents ------------------------------------------------------------------------------------------


def _consent_body(request: HttpRequest, consent: SandboxConsent) -> dict:
    data: dict = {
        "ConsentId": consent.pk,
        "CreationDateTime": iso_datetime(consent.created_at),
        "Status": consent.status,
        "StatusUpdateDateTime": iso_datetime(consent.status_updated_at),
        "Permissions": consent.permissions,
    }
    if consent.expires_at:
        data["ExpirationDateTime"] = iso_datetime(consent.expires_at)
    if consent.transaction_from:
        data["TransactionFromDateTime"] = iso_datetime(consent.transaction_from)
    if consent.transaction_to:
        data["TransactionToDateTime"] = iso_datetime(consent.transaction_to)
    self_url = request.build_absolute_uri(
        f"/sandbox/albion/open-banking/v3.1/aisp/account-access-consents/{consent.pk}"
    )
    return {"Data": data, "Risk": {}, "Links": {"Self": self_url}, "Meta": {"TotalPages": 1}}


@obie_endpoint({"POST"})
def consents_create(request: HttpRequest) -> HttpResponse:
    token = _client_token(request)
    try:
        body = orjson.loads(request.body or b"null")
    except orjson.JSONDecodeError:
        raise OBError(400, "UK.OBIE.Resource.InvalidFormat", "The request body is not valid JSON.") from None
    if not isinstance(body, dict) or not isinstance(body.get("Data"), dict) or not isinstance(body.get("Risk"), dict):
        raise OBError(400, "UK.OBIE.Field.Missing", "The body must contain Data and Risk objects.", "Data")
    data = body["Data"]
    permissions = data.get("Permissions")
    if not isinstance(permissions, list) or not permissions:
        raise OBError(400, "UK.OBIE.Field.Missing", "Data.Permissions must be a non-empty list.", "Data.Permissions")
    unknown = [p for p in permissions if p not in PERMISSIONS]
    if unknown:
        raise OBError(400, "UK.OBIE.Field.Invalid", f"Unknown permission(s): {unknown}.", "Data.Permissions")
    perms = set(permissions)
    if perms & {"ReadTransactionsBasic", "ReadTransactionsDetail"} and not perms & {
        "ReadTransactionsCredits",
        "ReadTransactionsDebits",
    }:
        raise OBError(
            400,
            "UK.OBIE.Field.Invalid",
            "ReadTransactionsBasic/Detail must be combined with ReadTransactionsCredits and/or Debits.",
            "Data.Permissions",
        )
    if perms & {"ReadTransactionsCredits", "ReadTransactionsDebits"} and not perms & {
        "ReadTransactionsBasic",
        "ReadTransactionsDetail",
    }:
        raise OBError(
            400,
            "UK.OBIE.Field.Invalid",
            "ReadTransactionsCredits/Debits need ReadTransactionsBasic or ReadTransactionsDetail.",
            "Data.Permissions",
        )
    expires = _parse_request_datetime(data.get("ExpirationDateTime"), "Data.ExpirationDateTime")
    tx_from = _parse_request_datetime(data.get("TransactionFromDateTime"), "Data.TransactionFromDateTime")
    tx_to = _parse_request_datetime(data.get("TransactionToDateTime"), "Data.TransactionToDateTime")
    if expires and expires <= bankdata.sandbox_now():
        raise OBError(400, "UK.OBIE.Field.InvalidDate", "ExpirationDateTime is in the past.", "Data.ExpirationDateTime")
    if tx_from and tx_to and tx_from > tx_to:
        raise OBError(
            400, "UK.OBIE.Field.InvalidDate", "TransactionFromDateTime is after TransactionToDateTime.", "Data"
        )
    consent = consents.consent_create(
        bank=BANK,
        client=token.client,
        permissions=list(dict.fromkeys(permissions)),
        expires_at=expires,
        transaction_from=tx_from,
        transaction_to=tx_to,
    )
    return json_response(_consent_body(request, consent), status=201)


@obie_endpoint({"GET", "DELETE"})
def consent(request: HttpRequest, consent_id: str) -> HttpResponse:
    token = _client_token(request)
    item = SandboxConsent.objects.filter(bank=BANK, pk=consent_id, client=token.client).first()
    if item is None:
        raise OBError(400, "UK.OBIE.Resource.NotFound", "Unknown ConsentId.", "ConsentId")
    if request.method == "DELETE":
        if item.status != "Revoked":
            consents.consent_revoke(consent=item)
        return HttpResponse(status=204)
    return json_response(_consent_body(request, item))


# --- accounts ------------------------------------------------------------------------------------------


def _account_json(acc: bankdata.SandboxAccount, detail: bool) -> dict:
    body: dict = {
        "AccountId": acc.id,
        "Status": "Enabled",
        "Currency": acc.currency,
        "AccountType": "Personal",
        "AccountSubType": SUBTYPES.get(acc.type, "CurrentAccount"),
        "Nickname": (acc.name or acc.id)[:70],
    }
    if acc.opened_on:
        body["OpeningDate"] = iso_date_midnight(acc.opened_on)
    if detail:
        identifiers = []
        if acc.sort_code and acc.account_number:
            identifiers.append(
                {
                    "SchemeName": "UK.OBIE.SortCodeAccountNumber",
                    "Identification": f"{acc.sort_code}{acc.account_number}",
                    "Name": acc.holder_name[:350] or acc.username,
                }
            )
        if acc.masked_pan:
            identifiers.append(
                {"SchemeName": "UK.OBIE.PAN", "Identification": acc.masked_pan, "Name": acc.holder_name or acc.username}
            )
        if acc.iban:
            identifiers.append({"SchemeName": "UK.OBIE.IBAN", "Identification": acc.iban, "Name": acc.holder_name})
        if identifiers:
            body["Account"] = identifiers
        if acc.name:
            body["Description"] = acc.name[:35]
    return body


def _consented_accounts(consent: SandboxConsent) -> list[bankdata.SandboxAccount]:
    wanted = set(consent.account_ids)
    return [a for a in bankdata.user_accounts(BANK, consent.username) if a.id in wanted]


@obie_endpoint({"GET"})
def accounts(request: HttpRequest) -> HttpResponse:
    token, consent = _psu_token(request)
    _require(consent, "ReadAccountsBasic", "ReadAccountsDetail")
    detail = "ReadAccountsDetail" in consent.permissions

    def produce() -> HttpResponse:
        items = [_account_json(a, detail) for a in _consented_accounts(consent)]
        return json_response(
            {"Data": {"Account": items}, "Links": {"Self": request.build_absolute_uri()}, "Meta": {"TotalPages": 1}}
        )

    return _with_faults(token, produce)


@obie_endpoint({"GET"})
def account(request: HttpRequest, account_id: str) -> HttpResponse:
    token, consent = _psu_token(request)
    _require(consent, "ReadAccountsBasic", "ReadAccountsDetail")
    acc = _account_of(consent, account_id)
    detail = "ReadAccountsDetail" in consent.permissions

    def produce() -> HttpResponse:
        return json_response(
            {
                "Data": {"Account": [_account_json(acc, detail)]},
                "Links": {"Self": request.build_absolute_uri()},
                "Meta": {"TotalPages": 1},
            }
        )

    return _with_faults(token, produce)


@obie_endpoint({"GET"})
def account_balances(request: HttpRequest, account_id: str) -> HttpResponse:
    token, consent = _psu_token(request)
    _require(consent, "ReadBalances")
    acc = _account_of(consent, account_id)

    def produce() -> HttpResponse:
        items = []
        for bal in bankdata.account_balances(BANK, consent.username, acc.id):
            item: dict = {
                "AccountId": acc.id,
                "CreditDebitIndicator": "Credit" if bal.amount >= 0 else "Debit",
                "Type": BALANCE_TYPES.get(bal.type, "Information"),
                "DateTime": iso_datetime(bal.as_of),
                "Amount": {"Amount": unsigned_money(bal.amount), "Currency": bal.currency},
            }
            if acc.credit_limit is not None:
                item["CreditLine"] = [
                    {
                        "Included": bal.credit_line_included,
                        "Type": "Credit",
                        "Amount": {"Amount": unsigned_money(acc.credit_limit), "Currency": acc.currency},
                    }
                ]
            items.append(item)
        return json_response(
            {"Data": {"Balance": items}, "Links": {"Self": request.build_absolute_uri()}, "Meta": {"TotalPages": 1}}
        )

    return _with_faults(token, produce)


def _transaction_json(tx: bankdata.SandboxTransaction, detail: bool) -> dict:
    item: dict = {
        "AccountId": tx.account_id,
        "TransactionId": tx.id,
        "CreditDebitIndicator": "Credit" if tx.amount >= 0 else "Debit",
        "Status": "Booked" if tx.status == "booked" else "Pending",
        "BookingDateTime": iso_datetime(tx.booked_at),
        "ValueDateTime": iso_date_midnight(tx.value_date),
        "Amount": {"Amount": unsigned_money(tx.amount), "Currency": tx.currency},
    }
    parts = tx.bank_transaction_code.split("-")
    if len(parts) == 3:
        item["BankTransactionCode"] = {"Code": parts[1], "SubCode": parts[2]}
    if tx.bank_transaction_code:
        item["ProprietaryBankTransactionCode"] = {"Code": tx.bank_transaction_code[:35], "Issuer": "Albion"}
    if detail:
        if tx.description:
            item["TransactionInformation"] = tx.description[:500]
        if tx.merchant_name:
            item["MerchantDetails"] = {"MerchantName": tx.merchant_name[:350]}
            if mcc := merchant_category_code(tx):  # card schemes report the merchant's ISO 18245 code
                item["MerchantDetails"]["MerchantCategoryCode"] = mcc
        if tx.counterparty_name:
            item["CreditorAccount" if tx.amount < 0 else "DebtorAccount"] = {"Name": tx.counterparty_name[:350]}
    supplementary = {"Category": tx.category} if tx.category else {}
    if tx.pending_transaction_id:
        supplementary["PendingTransactionId"] = tx.pending_transaction_id
    if tx.end_to_end_id:  # a payment initiated through albion's PIS API: the initiator's reconciliation key
        supplementary["EndToEndIdentification"] = tx.end_to_end_id
    if supplementary:
        item["SupplementaryData"] = supplementary
    return item


@obie_endpoint({"GET"})
def account_transactions(request: HttpRequest, account_id: str) -> HttpResponse:
    token, consent = _psu_token(request)
    _require(consent, "ReadTransactionsBasic", "ReadTransactionsDetail")
    acc = _account_of(consent, account_id)
    detail = "ReadTransactionsDetail" in consent.permissions
    credits_ok = "ReadTransactionsCredits" in consent.permissions
    debits_ok = "ReadTransactionsDebits" in consent.permissions
    booked_from = _parse_query_datetime(request, "fromBookingDateTime")
    booked_to = _parse_query_datetime(request, "toBookingDateTime")
    if consent.transaction_from and (booked_from is None or booked_from < consent.transaction_from):
        booked_from = consent.transaction_from
    if consent.transaction_to and (booked_to is None or booked_to > consent.transaction_to):
        booked_to = consent.transaction_to
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 0
    if page < 1:
        raise OBError(400, "UK.OBIE.Field.Invalid", "page must be a positive integer.", "page")

    def produce() -> HttpResponse:
        rows = bankdata.account_transactions(
            BANK, consent.username, acc.id, booked_from=booked_from, booked_to=booked_to
        )
        if not (credits_ok and debits_ok):
            rows = [t for t in rows if (t.amount >= 0 and credits_ok) or (t.amount < 0 and debits_ok)]
        total_pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
        if page > total_pages:
            raise OBError(400, "UK.OBIE.Field.Invalid", f"page is beyond the last page ({total_pages}).", "page")
        chunk = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        links = {
            "Self": _page_url(request, page),
            "First": _page_url(request, 1),
            "Last": _page_url(request, total_pages),
        }
        if page > 1:
            links["Prev"] = _page_url(request, page - 1)
        if page < total_pages:
            links["Next"] = _page_url(request, page + 1)
        body = {
            "Data": {"Transaction": [_transaction_json(t, detail) for t in chunk]},
            "Links": links,
            "Meta": {"TotalPages": total_pages},
        }
        return json_response(body)

    return _with_faults(token, produce)


def _page_url(request: HttpRequest, page: int) -> str:
    query = request.GET.copy()
    query["page"] = str(page)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
