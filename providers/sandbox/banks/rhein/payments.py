"""Rhein: Berlin Group NextGenPSD2 XS2A v1.3.11, payment initiation (PIS), OAuth SCA approach.

Base ``/sandbox/rhein/v1/payments/{product}`` with ``product`` ``sepa-credit-transfers`` or
``instant-sepa-credit-transfers`` (single payments; ``bulk-payments`` / ``periodic-payments`` are not offered).

1. ``POST /v1/payments/{product}`` (``X-Request-ID``; no token — a real ASPSP identifies the TPP by its eIDAS
   certificate) with the ``paymentInitiation_json`` body (``debtorAccount`` IBAN at this bank,
   ``instructedAmount``, ``creditorAccount``, ``creditorName``, optional ``endToEndIdentification`` and
   ``remittanceInformationUnstructured``) → ``RCVD``, ``paymentId``, ``_links.scaOAuth`` (the authorization
   server's metadata) and ``_links.startAuthorisation``.
2. Optionally ``POST …/{paymentId}/authorisations`` (explicit start: ``scaStatus`` ``received``,
   ``authorisationId``, ``_links.scaOAuth``).
3. The PSU's SCA: ``/sandbox/rhein/oauth/authorize`` with ``scope=PIS:<paymentId>`` (the OAuth SCA approach
   integrated in the payment; ``consent_id=<paymentId>`` works too), login as the debtor account's holder,
   approve → the payment is released at once: ``ACTC`` (payee check, currency and funds passed), then ``ACSC``
   when it settles (SEPA credit transfer: 60 s of sandbox time, instant: 10 s; ``PDNG`` for a day first for
   the ``slow`` user), or ``RJCT`` with its ISO 20022 reason (AM04 insufficient funds, BE01 payee name does not
   match the account, AM11 currency, DS02 refused by the PSU). The code gives a token bound to this payment.
4. ``GET …/{paymentId}`` and ``…/status`` follow it. Berlin Group 1.3.11's status response has no reason field:
   the reason opens ``psuMessage`` (``"AM04: Insufficient funds …"``), and ``fundsAvailable`` is false for AM04.

Idempotency: Berlin Group has no idempotency header. Rhein treats ``X-Request-ID`` as one (documented sandbox
behaviour): a payment initiation repeated with the same ``X-Request-ID`` and the same body returns the payment
it created (201, same ``paymentId``); the same ``X-Request-ID`` with another body is refused (400
``PARAMETER_NOT_CONSISTENT``). The ``timeout_after_accept`` user's first initiation per ``X-Request-ID`` is
committed and then answered 504 (a gateway timeout); the retry with the same id returns the payment.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse

from ... import bankdata
from ...models import SandboxConsent, SandboxPayment
from ...payments import lifecycle, services
from ...payments.schemas import schema_errors
from ..common import json_response
from .views import BGError, bg_endpoint

__all__ = ["authorisation_detail", "authorisations", "payment_create", "payment_detail", "payment_status"]

BANK = "rhein"
PRODUCTS = ("sepa-credit-transfers", "instant-sepa-credit-transfers")
SCA_STATUS = {"received": "received", "valid": "finalised", "rejected": "failed"}
IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")


def _product(product: str) -> str:
    if product not in PRODUCTS:
        raise BGError(404, "PRODUCT_UNKNOWN", f"The payment product {product!r} is not offered.")
    return product


def _links(request: HttpRequest, payment: SandboxPayment) -> dict[str, dict[str, str]]:
    self_url = request.build_absolute_uri(f"/sandbox/rhein/v1/payments/{payment.product}/{payment.pk}")
    return {
        "scaOAuth": {"href": request.build_absolute_uri("/sandbox/rhein/.well-known/oauth-authorization-server")},
        "startAuthorisation": {"href": f"{self_url}/authorisations"},
        "self": {"href": self_url},
        "status": {"href": f"{self_url}/status"},
    }


def _created_body(request: HttpRequest, payment: SandboxPayment) -> dict:
    return {
        "transactionStatus": lifecycle.bg_status(payment, bankdata.sandbox_now()),
        "paymentId": payment.pk,
        "_links": _links(request, payment),
    }


def _iban(reference: Any, field: str) -> str:
    iban = str((reference or {}).get("iban") or "").replace(" ", "").upper()
    if not IBAN.match(iban):
        raise BGError(400, "FORMAT_ERROR", f"{field}.iban must be an IBAN (other account references: not offered).")
    return iban


def _fields(body: dict, product: str) -> dict:
    errors = schema_errors("berlin-group", "paymentInitiation_json", body)
    if errors:
        _, path, message = errors[0]
        raise BGError(400, "FORMAT_ERROR", f"{path or 'body'}: {message}")
    try:
        amount = Decimal(str(body["instructedAmount"]["amount"]))
    except (InvalidOperation, KeyError, TypeError):
        amount = Decimal(0)
    if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise BGError(400, "FORMAT_ERROR", "instructedAmount.amount must be above zero with at most 2 decimals.")
    if body.get("requestedExecutionDate") not in (None, bankdata.sandbox_now().date().isoformat()):
        raise BGError(400, "EXECUTION_DATE_INVALID", "Future-dated single payments are not offered.")
    debtor_iban = _iban(body["debtorAccount"], "debtorAccount")
    creditor_iban = _iban(body["creditorAccount"], "creditorAccount")
    debtor = services.debtor_account(BANK, debtor_iban)
    if debtor is None:
        raise BGError(400, "FORMAT_ERROR", "debtorAccount is not an account at this bank.")
    return {
        "amount": amount,
        "currency": str(body["instructedAmount"]["currency"]),
        "creditor_name": str(body["creditorName"])[:70],
        "creditor_scheme": "iban",
        "creditor_identification": creditor_iban,
        "reference": str(body.get("remittanceInformationUnstructured") or "")[:140],
        "end_to_end_id": str(body.get("endToEndIdentification") or "")[:35],
        "instruction_id": str(body.get("instructionIdentification") or "")[:35],
        "username": debtor[0],
        "debtor_account_id": debtor[1].id,
        "initiation": body,
    }


def _parse(request: HttpRequest) -> dict:
    try:
        body = orjson.loads(request.body or b"null")
    except orjson.JSONDecodeError:
        raise BGError(400, "FORMAT_ERROR", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BGError(400, "FORMAT_ERROR", "The request body must be a JSON object.")
    return body


def _earlier(scope: dict, digest: str):  # type: ignore[no-untyped-def]
    try:
        return services.idempotency_lookup(**scope, digest=digest)
    except services.IdempotencyConflict:
        raise BGError(
            400, "PARAMETER_NOT_CONSISTENT", "This X-Request-ID was already used for another payment initiation."
        ) from None


def _answer(request: HttpRequest, payment: SandboxPayment, record) -> HttpResponse:  # type: ignore[no-untyped-def]
    if services.times_out_after_accepting(record, payment.username):
        return HttpResponse(status=504)  # committed, but the answer never reaches the TPP (a gateway timeout)
    services.idempotency_mark_answered(record)
    links = _links(request, payment)
    headers = {"Location": links["self"]["href"], "ASPSP-SCA-Approach": "REDIRECT"}
    return json_response(_created_body(request, payment), status=201, headers=headers)


@bg_endpoint({"POST"})
def payment_create(request: HttpRequest, product: str) -> HttpResponse:
    product = _product(product)
    body = _parse(request)
    digest = services.body_hash({"product": product, "body": body})
    scope = {"bank": BANK, "client_key": "", "endpoint": "payments", "key": request.headers["X-Request-ID"]}
    earlier = _earlier(scope, digest)
    if earlier is not None:
        return _answer(request, SandboxPayment.objects.get(pk=earlier.resource_id), earlier)
    fields = _fields(body, product)
    try:
        with transaction.atomic():
            now = services.sandbox_moment()
            payment_id = str(uuid.uuid4())
            consent = SandboxConsent.objects.create(
                id=payment_id,
                bank=BANK,
                kind=SandboxConsent.KIND_PAYMENT,
                status="received",
                created_at=now,
                status_updated_at=now,
            )
            payment = SandboxPayment.objects.create(
                id=payment_id, bank=BANK, product=product, consent=consent, created_at=now, **fields
            )
            record = services.idempotency_record(**scope, digest=digest, resource_id=payment.pk)
    except IntegrityError:  # the same X-Request-ID, raced
        record = _earlier(scope, digest)
        if record is None:
            raise
        payment = SandboxPayment.objects.get(pk=record.resource_id)
    return _answer(request, payment, record)


def _payment(product: str, payment_id: str) -> SandboxPayment:
    payment = SandboxPayment.objects.select_related("consent").filter(bank=BANK, pk=payment_id).first()
    if payment is None or payment.product != _product(product):
        raise BGError(403, "RESOURCE_UNKNOWN", "Unknown paymentId for this payment product.")
    return payment


def _status_body(payment: SandboxPayment) -> dict:
    status = lifecycle.bg_status(payment, bankdata.sandbox_now())
    body: dict[str, Any] = {"transactionStatus": status}
    if status == "RJCT" and payment.reason_code:
        body["psuMessage"] = f"{payment.reason_code}: {payment.reason}"[:500]
        if payment.reason_code == services.INSUFFICIENT_FUNDS[0]:
            body["fundsAvailable"] = False
    elif status in {"ACTC", "PDNG", "ACSC"}:
        body["fundsAvailable"] = True
    return body


@bg_endpoint({"GET"})
def payment_detail(request: HttpRequest, product: str, payment_id: str) -> HttpResponse:
    payment = _payment(product, payment_id)  # the initiation as the TPP sent it, with its status now
    return json_response(
        {**payment.initiation, "transactionStatus": lifecycle.bg_status(payment, bankdata.sandbox_now())}
    )


@bg_endpoint({"GET"})
def payment_status(request: HttpRequest, product: str, payment_id: str) -> HttpResponse:
    return json_response(_status_body(_payment(product, payment_id)))


@bg_endpoint({"GET", "POST"})
def authorisations(request: HttpRequest, product: str, payment_id: str) -> HttpResponse:
    payment = _payment(product, payment_id)
    consent = payment.consent
    assert consent is not None
    if request.method == "GET":
        ids = [consent.pk] if consent.access.get("authorisation_started") else []
        return json_response({"authorisationIds": ids})
    if consent.status != "received":
        raise BGError(409, "STATUS_INVALID", f"The payment's authorisation is {SCA_STATUS[consent.status]}.")
    # (a payment's consent row has no account access to record: ``access`` notes the explicit start)
    SandboxConsent.objects.filter(pk=consent.pk).update(access={"authorisation_started": True})
    links = _links(request, payment)
    body = {
        "scaStatus": "received",
        "authorisationId": consent.pk,
        "_links": {
            "scaOAuth": links["scaOAuth"],
            "scaStatus": {"href": f"{links['self']['href']}/authorisations/{consent.pk}"},
        },
    }
    return json_response(body, status=201, headers={"ASPSP-SCA-Approach": "REDIRECT"})


@bg_endpoint({"GET"})
def authorisation_detail(request: HttpRequest, product: str, payment_id: str, authorisation_id: str) -> HttpResponse:
    payment = _payment(product, payment_id)
    consent = payment.consent
    if consent is None or authorisation_id != consent.pk:
        raise BGError(403, "RESOURCE_UNKNOWN", "Unknown authorisationId.")
    return json_response({"scaStatus": SCA_STATUS.get(consent.status, "failed")})
