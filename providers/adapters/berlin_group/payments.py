"""Berlin Group NextGenPSD2 v1.3.11 payment initiation for the Berlin Group adapter (single SEPA and instant
SEPA credit transfers, OAuth SCA approach).

Flow (``providers.base`` "payments"): ``POST /v1/payments/{product}`` (``X-Request-ID`` derived from our
idempotency key, ``TPP-Redirect-URI``) → ``RCVD`` + ``paymentId`` → the user's SCA at the bank's authorization
server with ``scope=PIS:<paymentId>`` → code → a token bound to the payment; the SCA released the payment, so
``submit_payment`` reads its status; ``get_payment`` follows it.

Idempotency: the Berlin Group has no idempotency header; the bank treats a repeated ``X-Request-ID`` as one
(rhein does). Our key becomes the ``X-Request-ID`` as itself when it is a UUID, else as the UUIDv5 of the key
in ``constants.REQUEST_ID_NAMESPACE``: a retried initiation after a timeout carries the same id and body and
gets the same payment back.

Status mapping (``constants.PAYMENT_STATUSES``): RCVD, PDNG, PATC, PART → pending; ACTC, ACCP, ACFC, ACSP, ACWC,
ACWP → accepted; ACSC, ACCC → settled; RJCT, CANC → rejected. Version 1.3.11's status response has no reason
field: the bank's ISO 20022 reason code opens ``psuMessage`` (``"AM04: …"``), taken as ``reason_code``.
Refusals of the initiation (400/403 ``tppMessages``) raise ``PaymentRejectedError`` with the message code.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from ...base import (
    AuthorizationRequest,
    BankPayment,
    Credentials,
    PaymentInstruction,
    PaymentRejectedError,
    ProviderError,
)
from ...http import HttpResponse, provider_client
from ...oauth import authorization_request_build
from ..common import error_body, malformed
from . import constants
from .client import BerlinGroupClient, berlin_group_error

__all__ = ["BerlinGroupPayments", "request_id_for"]

_REASON = re.compile(r"^([A-Z]{2}[0-9]{2})\b[:\s-]*(.*)$", re.S)


def request_id_for(key: str) -> str:
    """Our idempotency key as the payment initiation's ``X-Request-ID`` (a UUID, the same for the same key)."""
    try:
        return str(uuid.UUID(key))
    except ValueError:
        return str(uuid.uuid5(uuid.UUID(constants.REQUEST_ID_NAMESPACE), key))


def pis_error(response: HttpResponse) -> ProviderError | None:
    if response.status in (400, 403, 404, 409):
        messages = [m for m in error_body(response).get("tppMessages") or [] if isinstance(m, dict)]
        code = str(messages[0].get("code", "")) if messages else ""
        text = str(messages[0].get("text", "")) if messages else ""
        return PaymentRejectedError(
            f"the bank refused the payment: [{code or response.status}] {text} (X-Request-ID {response.request_id})",
            reason_code=code,
            reason=text,
        )
    return berlin_group_error(response)


def payment_body(instruction: PaymentInstruction) -> dict[str, Any]:
    """The ``paymentInitiation_json`` body (a pure function of the instruction: retries send the same)."""
    if not instruction.debtor_iban or not instruction.creditor_iban:
        raise PaymentRejectedError(
            "Berlin Group payments need the debtor's and the creditor's IBAN", reason_code="FORMAT_ERROR"
        )
    body: dict[str, Any] = {
        "debtorAccount": {"iban": instruction.debtor_iban.replace(" ", "").upper()},
        "instructedAmount": {"currency": instruction.currency, "amount": f"{instruction.amount:.2f}"},
        "creditorAccount": {"iban": instruction.creditor_iban.replace(" ", "").upper()},
        "creditorName": instruction.creditor_name[:70],
    }
    if instruction.end_to_end_id:
        body["endToEndIdentification"] = instruction.end_to_end_id[:35]
    if instruction.reference:
        body["remittanceInformationUnstructured"] = instruction.reference[:140]
    return body


class BerlinGroupPayments:
    """The PIS calls of one Berlin Group bank (the only place that builds PIS requests)."""

    def __init__(self, client: BerlinGroupClient) -> None:
        self.client = client

    def _request(self, method: str, path: str, *, headers: dict[str, str], body: Any = None) -> dict[str, Any]:
        response = provider_client().request(
            method, f"{self.client.api_base}{path}", json_body=body, headers=headers, error_mapper=pis_error
        )
        return response.json_object()

    def start(
        self, instruction: PaymentInstruction, *, idempotency_key: str, redirect_uri: str
    ) -> AuthorizationRequest:
        if instruction.requested_execution_date:
            raise PaymentRejectedError(
                "this bank takes no future-dated single payments", reason_code="EXECUTION_DATE_INVALID"
            )
        product = constants.SCT_INSTANT if instruction.instant else constants.SCT
        headers = {
            "X-Request-ID": request_id_for(idempotency_key),
            "TPP-Redirect-URI": redirect_uri,
            "TPP-Redirect-Preferred": "true",
        }
        if self.client.psu_ip_address:
            headers["PSU-IP-Address"] = self.client.psu_ip_address
        answer = self._request("POST", f"/payments/{product}", headers=headers, body=payment_body(instruction))
        payment_id = str(answer.get("paymentId") or "")
        if not payment_id:
            raise malformed("payment initiation response without paymentId")
        return authorization_request_build(
            server=self.client.server(),
            client_id=self.client.client_id,
            redirect_uri=redirect_uri,
            scope=f"{constants.PAYMENT_SCOPE_PREFIX}{payment_id}",
            consent_id=payment_id,
            extra={"product": product, "payment_id": payment_id},
        )

    def status(self, bank_payment_id: str, *, product: str = "", credentials: Credentials | None = None) -> BankPayment:
        headers = {"X-Request-ID": str(uuid.uuid4())}
        if credentials is not None:
            headers["Authorization"] = f"Bearer {credentials.access_token}"
        products = [product] if product else [constants.SCT, constants.SCT_INSTANT]
        for index, candidate in enumerate(products):
            try:
                answer = self._request("GET", f"/payments/{candidate}/{bank_payment_id}/status", headers=headers)
            except PaymentRejectedError as exc:
                if exc.reason_code == "RESOURCE_UNKNOWN" and index + 1 < len(products):
                    continue
                raise
            return self._payment(bank_payment_id, answer)
        raise PaymentRejectedError(f"the bank knows no payment {bank_payment_id}", reason_code="RESOURCE_UNKNOWN")

    @staticmethod
    def _payment(payment_id: str, answer: dict[str, Any]) -> BankPayment:
        status = str(answer.get("transactionStatus") or "")
        if status not in constants.PAYMENT_STATUSES:
            raise malformed(f"payment status response with an unknown transactionStatus {status!r}")
        reason_code = reason = ""
        message = str(answer.get("psuMessage") or "")
        if constants.PAYMENT_STATUSES[status] == "rejected" and message:
            match = _REASON.match(message)
            reason_code, reason = (match.group(1), match.group(2)) if match else ("", message)
        return BankPayment(
            bank_payment_id=payment_id,
            status=constants.PAYMENT_STATUSES[status],
            bank_status=status,
            reason_code=reason_code,
            reason=reason,
            bank_consent_id=payment_id,
            raw=answer,
        )
