"""Albion: UK Open Banking (OBIE) Payment Initiation API v3.1.11 — domestic and domestic scheduled payments.

Base ``/sandbox/albion/open-banking/v3.1/pisp/``. Flow, as the standard has it:

1. ``POST domestic(-scheduled)-payment-consents`` with a client-credentials token (scope ``payments``) and an
   ``x-idempotency-key`` → ``AwaitingAuthorisation``.
2. The PSU authorises it at the bank: ``/sandbox/albion/oauth/authorize`` with ``scope=payments`` (``openid``
   optional) and the ConsentId (``consent_id`` parameter or the request object's ``openbanking_intent_id``),
   login, picks the debtor account (only the one the TPP named in ``DebtorAccount``, if it named one) →
   ``Authorised``; the authorization code gives a token bound to this consent only.
3. ``GET domestic-payment-consents/{ConsentId}/funds-confirmation`` with that token (optional).
4. ``POST domestic(-scheduled)-payments`` with that token, an ``x-idempotency-key`` and exactly the consent's
   ``Initiation`` and ``Risk`` → the payment; the consent becomes ``Consumed``.
5. ``GET domestic(-scheduled)-payments/{id}`` and ``/payment-details`` with a client-credentials token.

Statuses move on the sandbox clock (``providers.sandbox.payments.lifecycle``): a domestic payment is
``AcceptedSettlementInProcess`` (``Pending`` for a day for the ``slow`` user) then
``AcceptedSettlementCompleted`` a minute later, or ``Rejected`` at once; ``payment-details`` gives the reason
(``StatusDetail.Status`` = the ISO 20022 reason code such as ``AM04``, ``StatusReason`` ``ProprietaryRejection``).
A scheduled payment is ``InitiationPending`` until its ``RequestedExecutionDateTime``, then
``InitiationCompleted`` (debited then) or ``InitiationFailed``.

Idempotency (``x-idempotency-key``, required on both POSTs, ≤ 40 characters, valid 24 h): the same key with the
same body returns the resource it created (201, the resource as it is now); the same key with another body is
refused (400 ``UK.OBIE.Header.Invalid``). Keys are scoped to the client and the endpoint.

Signatures: every PIS response carries ``x-jws-signature`` (see ``providers.sandbox.payments.signing``:
HS256 with the client secret). Request signatures are not required — albion's AIS verifies no message
signatures either — and are not checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any

import orjson
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse

from ... import bankdata
from ...models import SandboxClient, SandboxConsent, SandboxPayment, SandboxToken
from ...oauth import consents
from ...payments import lifecycle, services
from ...payments.schemas import schema_errors
from ...payments.signing import detached_jws
from ..common import bearer_token, iso_datetime, json_response
from .views import OBError, _parse_request_datetime, obie_endpoint

__all__ = [
    "consent_create",
    "consent_detail",
    "funds_confirmation",
    "payment_create",
    "payment_detail",
    "payment_details",
]

BANK = "albion"
BASE = "/sandbox/albion/open-banking/v3.1/pisp"
IDEMPOTENCY_KEY = re.compile(r"^(?!\s)(.*)(\S)$")
_ERROR_KINDS = {"missing": "UK.OBIE.Field.Missing", "unexpected": "UK.OBIE.Field.Unexpected"}


class _Kind:
    def __init__(self, name: str, consent_schema: str, payment_schema: str, id_field: str) -> None:
        self.name = name  # URL segment: domestic / domestic-scheduled
        self.consent_schema, self.payment_schema, self.id_field = consent_schema, payment_schema, id_field

    @property
    def product(self) -> str:
        return f"{self.name}-payments"


KINDS = {
    "domestic": _Kind("domestic", "OBWriteDomesticConsent4", "OBWriteDomestic2", "DomesticPaymentId"),
    "domestic-scheduled": _Kind(
        "domestic-scheduled",
        "OBWriteDomesticScheduledConsent4",
        "OBWriteDomesticScheduled2",
        "DomesticScheduledPaymentId",
    ),
}


def pis_endpoint(methods: set[str]) -> Callable:
    """``obie_endpoint`` plus the ``x-jws-signature`` of every response with a body."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        inner = obie_endpoint(methods)(view)

        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = inner(request, *args, **kwargs)
            if response.content:
                client: SandboxClient | None = getattr(request, "sandbox_client", None)
                response["x-jws-signature"] = detached_jws(
                    response.content,
                    bank=BANK,
                    client_id=client.client_id if client else "",
                    client_secret=client.client_secret if client else "",
                )
            return response

        wrapper.csrf_exempt = True  # type: ignore[attr-defined]
        return wrapper

    return decorator


# --- tokens and input -------------------------------------------------------------------------------------


def _scopes(token: SandboxToken) -> set[str]:
    return set(token.scope.split())


def _client_token(request: HttpRequest) -> SandboxToken:
    token = bearer_token(request, BANK)
    if token is None or token.consent_id is not None:
        raise OBError(401, "UK.OBIE.Header.Invalid", "A valid client-credentials access token is required.")
    request.sandbox_client = token.client  # type: ignore[attr-defined]
    if "payments" not in _scopes(token):
        raise OBError(403, "UK.OBIE.Resource.ConsentMismatch", "The access token does not grant the payments scope.")
    return token


def _psu_token(request: HttpRequest) -> tuple[SandboxToken, SandboxConsent]:
    token = bearer_token(request, BANK)
    if token is None or token.consent is None:
        raise OBError(401, "UK.OBIE.Header.Invalid", "A valid PSU access token is required.")
    request.sandbox_client = token.client  # type: ignore[attr-defined]
    if token.consent.kind != SandboxConsent.KIND_PAYMENT or "payments" not in _scopes(token):
        raise OBError(403, "UK.OBIE.Resource.ConsentMismatch", "The access token is not bound to a payment consent.")
    return token, token.consent


def _idempotency_key(request: HttpRequest) -> str:
    key = request.headers.get("x-idempotency-key")
    if key is None or key == "":
        raise OBError(400, "UK.OBIE.Header.Missing", "The x-idempotency-key header is required.", "x-idempotency-key")
    if len(key) > 40 or not IDEMPOTENCY_KEY.match(key):
        raise OBError(
            400,
            "UK.OBIE.Header.Invalid",
            "x-idempotency-key must be 1 to 40 characters without leading or trailing spaces.",
            "x-idempotency-key",
        )
    return key


def _body(request: HttpRequest, schema: str) -> dict:
    try:
        body = orjson.loads(request.body or b"null")
    except orjson.JSONDecodeError:
        raise OBError(400, "UK.OBIE.Resource.InvalidFormat", "The request body is not valid JSON.") from None
    errors = schema_errors("obie-pis", schema, body)
    if errors:
        kind, path, message = errors[0]
        raise OBError(400, _ERROR_KINDS.get(kind, "UK.OBIE.Field.Invalid"), message, path or "Data")
    return body


def _amount(initiation: dict) -> Decimal:
    try:
        amount = Decimal(initiation["InstructedAmount"]["Amount"])
    except (InvalidOperation, KeyError, TypeError):
        amount = Decimal(0)
    if amount <= 0:
        raise OBError(
            400,
            "UK.OBIE.Field.Invalid",
            "InstructedAmount.Amount must be above zero.",
            "Data.Initiation.InstructedAmount",
        )
    return amount


def _account_identifier(account: dict, path: str) -> tuple[str, str]:
    scheme = str(account.get("SchemeName", ""))
    ident = str(account.get("Identification", "")).replace(" ", "").replace("-", "")
    if scheme == "UK.OBIE.SortCodeAccountNumber":
        if not (len(ident) == 14 and ident.isdigit()):
            raise OBError(
                400, "UK.OBIE.Field.Invalid", "A sort code and account number is 14 digits.", f"{path}.Identification"
            )
    elif scheme == "UK.OBIE.IBAN":
        if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", ident.upper()):
            raise OBError(400, "UK.OBIE.Field.Invalid", "Not an IBAN.", f"{path}.Identification")
        ident = ident.upper()
    else:
        raise OBError(
            400, "UK.OBIE.Unsupported.AccountIdentifier", f"{scheme} is not supported here.", f"{path}.SchemeName"
        )
    return scheme, ident


# --- rendering ----------------------------------------------------------------------------------------------


def _consent_json(request: HttpRequest, kind: _Kind, consent: SandboxConsent, payment: SandboxPayment) -> dict:
    data: dict[str, Any] = {
        "ConsentId": consent.pk,
        "CreationDateTime": iso_datetime(consent.created_at),
        "Status": consent.status,
        "StatusUpdateDateTime": iso_datetime(consent.status_updated_at),
    }
    if kind.name == "domestic-scheduled":
        data["Permission"] = "Create"
    data["Initiation"] = payment.initiation
    self_url = request.build_absolute_uri(f"{BASE}/{kind.name}-payment-consents/{consent.pk}")
    return {"Data": data, "Risk": payment.risk, "Links": {"Self": self_url}, "Meta": {}}


def _payment_json(request: HttpRequest, kind: _Kind, payment: SandboxPayment) -> dict:
    now = bankdata.sandbox_now()
    data: dict[str, Any] = {
        kind.id_field: payment.id,
        "ConsentId": payment.consent_id,
        "CreationDateTime": iso_datetime(payment.submitted_at or payment.created_at),
        "Status": lifecycle.obie_payment_status(payment, now),
        "StatusUpdateDateTime": iso_datetime(lifecycle.status_changed_at(payment, now)),
    }
    if payment.settles_at is not None and payment.rejected_at is None:
        data["ExpectedExecutionDateTime"] = iso_datetime(payment.pending_until or payment.settles_at)
        data["ExpectedSettlementDateTime"] = iso_datetime(payment.settles_at)
    data["Initiation"] = payment.initiation
    self_url = request.build_absolute_uri(f"{BASE}/{kind.product}/{payment.id}")
    return {"Data": data, "Links": {"Self": self_url}, "Meta": {}}


_DETAIL_STATUS = {
    "Pending": ("Pending", "PendingSettlement"),
    "AcceptedSettlementInProcess": ("AcceptedSettlementInProcess", "PendingSettlement"),
    "AcceptedSettlementCompleted": ("AcceptedSettlementCompleted", ""),
    "InitiationPending": ("Pending", "PendingSettlement"),
    "InitiationCompleted": ("AcceptedSettlementCompleted", ""),
    "Rejected": ("Rejected", "ProprietaryRejection"),
    "InitiationFailed": ("Rejected", "ProprietaryRejection"),
}


def _details_json(request: HttpRequest, payment: SandboxPayment) -> dict:
    now = bankdata.sandbox_now()
    status, reason = _DETAIL_STATUS[lifecycle.obie_payment_status(payment, now)]
    item: dict[str, Any] = {
        "PaymentTransactionId": payment.id,
        "Status": status,
        "StatusUpdateDateTime": iso_datetime(lifecycle.status_changed_at(payment, now)),
    }
    if payment.rejected_at is not None:
        item["StatusDetail"] = {
            "LocalInstrument": "UK.OBIE.FPS",
            "Status": payment.reason_code,
            "StatusReason": reason,
            "StatusReasonDescription": payment.reason[:256],
        }
    elif reason:
        item["StatusDetail"] = {"LocalInstrument": "UK.OBIE.FPS", "Status": status, "StatusReason": reason}
    return {"Data": {"PaymentStatus": [item]}, "Links": {"Self": request.build_absolute_uri()}, "Meta": {}}


# --- consents -----------------------------------------------------------------------------------------------


def _instruction_fields(kind: _Kind, initiation: dict) -> dict:
    amount = _amount(initiation)
    creditor = initiation["CreditorAccount"]
    scheme, ident = _account_identifier(creditor, "Data.Initiation.CreditorAccount")
    if services.payee_check_fails(BANK, ident, str(creditor.get("Name", ""))):
        raise OBError(
            400,
            "UK.OBIE.Field.Invalid",
            "Confirmation of Payee: the name does not match the account holder's (no match).",
            "Data.Initiation.CreditorAccount.Name",
        )
    if initiation.get("LocalInstrument") not in (None, "UK.OBIE.FPS"):
        raise OBError(
            400,
            "UK.OBIE.Unsupported.LocalInstrument",
            "Albion initiates Faster Payments only (UK.OBIE.FPS).",
            "Data.Initiation.LocalInstrument",
        )
    remittance = initiation.get("RemittanceInformation") or {}
    fields: dict[str, Any] = {
        "amount": amount,
        "currency": initiation["InstructedAmount"]["Currency"],
        "creditor_name": str(creditor["Name"]),
        "creditor_scheme": scheme,
        "creditor_identification": ident,
        "reference": str(remittance.get("Reference") or remittance.get("Unstructured") or "")[:140],
        "end_to_end_id": str(initiation.get("EndToEndIdentification") or ""),
        "instruction_id": str(initiation["InstructionIdentification"]),
    }
    if "DebtorAccount" in initiation:
        _, debtor_ident = _account_identifier(initiation["DebtorAccount"], "Data.Initiation.DebtorAccount")
        found = services.debtor_account(BANK, debtor_ident)
        if found is None:
            raise OBError(
                400,
                "UK.OBIE.Field.Invalid",
                "DebtorAccount is not an account at this bank.",
                "Data.Initiation.DebtorAccount",
            )
        fields["username"], fields["debtor_account_id"] = found[0], found[1].id
    if kind.name == "domestic-scheduled":
        when = _requested_execution(initiation)
        fields["requested_execution_at"] = when
    return fields


def _requested_execution(initiation: dict) -> datetime:
    when = _parse_request_datetime(
        initiation.get("RequestedExecutionDateTime"), "Data.Initiation.RequestedExecutionDateTime"
    )
    if when is None or when <= bankdata.sandbox_now():
        raise OBError(
            400,
            "UK.OBIE.Field.InvalidDate",
            "RequestedExecutionDateTime must be in the future.",
            "Data.Initiation.RequestedExecutionDateTime",
        )
    return when


def _consent_create(request: HttpRequest, kind: _Kind) -> HttpResponse:
    token = _client_token(request)
    key = _idempotency_key(request)
    body = _body(request, kind.consent_schema)
    digest = services.body_hash(body)
    endpoint = f"{kind.name}-payment-consents"
    scope = {"bank": BANK, "client_key": token.client.client_id, "endpoint": endpoint, "key": key}
    earlier = _earlier(scope, digest)
    if earlier is not None:
        consent = SandboxConsent.objects.get(pk=earlier.resource_id)
        return json_response(_consent_json(request, kind, consent, consent.payment), status=201)
    fields = _instruction_fields(kind, body["Data"]["Initiation"])
    try:
        with transaction.atomic():
            consent = consents.consent_create(bank=BANK, client=token.client, kind=SandboxConsent.KIND_PAYMENT)
            payment = services.payment_create(
                bank=BANK,
                product=kind.product,
                client=token.client,
                consent=consent,
                fields={**fields, "initiation": body["Data"]["Initiation"], "risk": body["Risk"]},
            )
            services.idempotency_record(**scope, digest=digest, resource_id=consent.pk)
    except IntegrityError:  # the same key, raced: the other request created the consent
        earlier = _earlier(scope, digest)
        if earlier is None:
            raise
        consent = SandboxConsent.objects.get(pk=earlier.resource_id)
        payment = consent.payment
    return json_response(_consent_json(request, kind, consent, payment), status=201)


def _earlier(scope: dict, digest: str):  # type: ignore[no-untyped-def]
    try:
        return services.idempotency_lookup(**scope, digest=digest)
    except services.IdempotencyConflict:
        raise OBError(
            400,
            "UK.OBIE.Header.Invalid",
            "This x-idempotency-key was already used with a different request body.",
            "x-idempotency-key",
        ) from None


def _own_consent(kind: _Kind, consent_id: str, client: SandboxClient) -> SandboxConsent:
    consent = (
        SandboxConsent.objects.select_related("payment")
        .filter(bank=BANK, pk=consent_id, client=client, kind=SandboxConsent.KIND_PAYMENT)
        .first()
    )
    if consent is None or getattr(consent, "payment", None) is None or consent.payment.product != kind.product:
        raise OBError(400, "UK.OBIE.Resource.NotFound", "Unknown ConsentId.", "ConsentId")
    return consent


@pis_endpoint({"POST"})
def consent_create(request: HttpRequest, kind: str) -> HttpResponse:
    return _consent_create(request, KINDS[kind])


@pis_endpoint({"GET"})
def consent_detail(request: HttpRequest, kind: str, consent_id: str) -> HttpResponse:
    token = _client_token(request)
    consent = _own_consent(KINDS[kind], consent_id, token.client)
    return json_response(_consent_json(request, KINDS[kind], consent, consent.payment))


@pis_endpoint({"GET"})
def funds_confirmation(request: HttpRequest, consent_id: str) -> HttpResponse:
    _, consent = _psu_token(request)
    if consent.pk != consent_id:
        raise OBError(403, "UK.OBIE.Resource.ConsentMismatch", "The access token is bound to another consent.")
    if consent.status != "Authorised":
        raise OBError(400, "UK.OBIE.Resource.InvalidConsentStatus", f"The consent is {consent.status}.", "ConsentId")
    payment = consent.payment
    available = services.funds_available(BANK, payment.username, payment.debtor_account_id, payment.amount)
    body = {
        "Data": {
            "FundsAvailableResult": {
                "FundsAvailableDateTime": iso_datetime(bankdata.sandbox_now()),
                "FundsAvailable": available,
            }
        },
        "Links": {"Self": request.build_absolute_uri()},
        "Meta": {},
    }
    return json_response(body)


# --- payments -----------------------------------------------------------------------------------------------


def _payment_response(request: HttpRequest, kind: _Kind, payment: SandboxPayment, record) -> HttpResponse:  # type: ignore[no-untyped-def]
    if services.times_out_after_accepting(record, payment.username):
        return HttpResponse(status=504)  # committed, but the answer never reaches the TPP (a gateway timeout)
    services.idempotency_mark_answered(record)
    return json_response(_payment_json(request, kind, payment), status=201)


@pis_endpoint({"POST"})
def payment_create(request: HttpRequest, kind: str) -> HttpResponse:
    the_kind = KINDS[kind]
    token, consent = _psu_token(request)
    key = _idempotency_key(request)
    body = _body(request, the_kind.payment_schema)
    digest = services.body_hash(body)
    scope = {"bank": BANK, "client_key": token.client.client_id, "endpoint": the_kind.product, "key": key}
    earlier = _earlier(scope, digest)
    if earlier is not None:
        payment = SandboxPayment.objects.get(pk=earlier.resource_id)
        return _payment_response(request, the_kind, payment, earlier)
    data = body["Data"]
    if data["ConsentId"] != consent.pk:
        raise OBError(
            400, "UK.OBIE.Resource.ConsentMismatch", "ConsentId is not the token's consent.", "Data.ConsentId"
        )
    try:
        with transaction.atomic():
            locked = SandboxConsent.objects.select_for_update().get(pk=consent.pk)
            payment = SandboxPayment.objects.select_for_update().get(consent=locked)
            if payment.product != the_kind.product:
                raise OBError(400, "UK.OBIE.Resource.ConsentMismatch", "The consent is for another payment type.")
            if locked.status != "Authorised":
                raise OBError(
                    400, "UK.OBIE.Resource.InvalidConsentStatus", f"The consent is {locked.status}.", "Data.ConsentId"
                )
            if data["Initiation"] != payment.initiation or body["Risk"] != payment.risk:
                raise OBError(
                    400,
                    "UK.OBIE.Resource.ConsentMismatch",
                    "The Initiation and Risk must be exactly those of the consent.",
                    "Data.Initiation",
                )
            services.payment_submit(payment=payment)
            consents.consent_consume(consent=locked)
            record = services.idempotency_record(**scope, digest=digest, resource_id=payment.id)
    except IntegrityError:
        earlier = _earlier(scope, digest)
        if earlier is None:
            raise
        payment, record = SandboxPayment.objects.get(pk=earlier.resource_id), earlier
    return _payment_response(request, the_kind, payment, record)


def _own_payment(kind: _Kind, payment_id: str, client: SandboxClient) -> SandboxPayment:
    payment = SandboxPayment.objects.filter(
        bank=BANK, pk=payment_id, client=client, product=kind.product, submitted_at__isnull=False
    ).first()
    if payment is None:
        raise OBError(400, "UK.OBIE.Resource.NotFound", f"Unknown {kind.id_field}.", kind.id_field)
    return payment


@pis_endpoint({"GET"})
def payment_detail(request: HttpRequest, kind: str, payment_id: str) -> HttpResponse:
    token = _client_token(request)
    return json_response(_payment_json(request, KINDS[kind], _own_payment(KINDS[kind], payment_id, token.client)))


@pis_endpoint({"GET"})
def payment_details(request: HttpRequest, kind: str, payment_id: str) -> HttpResponse:
    token = _client_token(request)
    return json_response(_details_json(request, _own_payment(KINDS[kind], payment_id, token.client)))
