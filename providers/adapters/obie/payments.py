"""OBIE Payment Initiation API v3.1.11 for the OBIE adapter: domestic and domestic scheduled payments.

Flow (``providers.base`` "payments"): client-credentials token (scope ``payments``) → ``POST
domestic(-scheduled)-payment-consents`` with ``x-idempotency-key`` → the user authorises the ConsentId at the
bank (``scope=payments``) → code → a token bound to this consent → ``POST domestic(-scheduled)-payments`` with
exactly the consent's ``Initiation`` and ``Risk`` (kept in ``AuthorizationRequest.extra``) and
``x-idempotency-key`` → ``GET …/{id}`` (client-credentials token) and ``…/payment-details`` for a rejection's
reason (``StatusDetail.Status``, an ISO 20022 code such as ``AM04``, else ``StatusReason``).

Idempotency: our key is sent as ``x-idempotency-key`` (a key longer than OBIE's 40 characters is replaced by
the first 40 hex digits of its SHA-256, the same on every retry); the request body is built only from the
instruction (and, for the payment, from what the consent stored), so a retry sends the same body and gets the
same resource back, never a second payment.

Status mapping (``constants.PAYMENT_STATUSES``): Pending / InitiationPending → pending;
AcceptedSettlementInProcess, AcceptedWithoutPosting → accepted; AcceptedSettlementCompleted,
AcceptedCreditSettlementCompleted, InitiationCompleted → settled; Rejected, InitiationFailed, Cancelled →
rejected. A payment the bank created but rejected comes back as a ``BankPayment`` with status ``rejected``
and the reason; a request the bank refuses outright (400/403 ``OBErrorResponse1``: payee check, a consumed
consent, a changed instruction under a used key) raises ``PaymentRejectedError`` with the ``ErrorCode``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time
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
from .client import OBIEClient, obie_error

__all__ = ["OBIEPayments", "idempotency_header", "initiation_for"]


def idempotency_header(key: str) -> str:
    """Our idempotency key as an OBIE ``x-idempotency-key`` (≤ 40 characters, stable)."""
    key = key.strip()
    if key and len(key) <= constants.IDEMPOTENCY_KEY_MAX:
        return key
    return hashlib.sha256(key.encode()).hexdigest()[: constants.IDEMPOTENCY_KEY_MAX]


def pis_error(response: HttpResponse) -> ProviderError | None:
    """400/403 ``OBErrorResponse1`` → ``PaymentRejectedError`` (reason code: the first ErrorCode)."""
    if response.status in (400, 403):
        body = error_body(response)
        errors = [e for e in body.get("Errors", []) if isinstance(e, dict)]
        code = str(errors[0].get("ErrorCode", "")) if errors else ""
        message = str((errors[0].get("Message") if errors else "") or body.get("Message") or "")
        return PaymentRejectedError(
            f"the bank refused the payment: {message} [{code}] (x-fapi-interaction-id {response.request_id})",
            reason_code=code,
            reason=message,
        )
    return obie_error(response)


def _account(iban: str, sort_code: str, number: str, name: str = "") -> dict[str, str]:
    if iban:
        account = {"SchemeName": "UK.OBIE.IBAN", "Identification": iban.replace(" ", "").upper()}
    else:
        account = {"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": f"{sort_code}{number}"}
    if name:
        account["Name"] = name[:350]
    return account


def _kind(instruction: PaymentInstruction) -> tuple[str, str]:
    return constants.DOMESTIC_SCHEDULED if instruction.requested_execution_date else constants.DOMESTIC


def initiation_for(instruction: PaymentInstruction) -> dict[str, Any]:
    """The ``Initiation`` of the instruction (a pure function of it: retries send the same body)."""
    initiation: dict[str, Any] = {
        "InstructionIdentification": instruction.instruction_id[:35],
        "EndToEndIdentification": instruction.end_to_end_id[:35],
        "InstructedAmount": {"Amount": f"{instruction.amount:.2f}", "Currency": instruction.currency},
        "CreditorAccount": _account(
            instruction.creditor_iban,
            instruction.creditor_sort_code,
            instruction.creditor_account_number,
            instruction.creditor_name or "-",
        ),
    }
    if instruction.debtor_iban or instruction.debtor_sort_code:
        initiation["DebtorAccount"] = _account(
            instruction.debtor_iban, instruction.debtor_sort_code, instruction.debtor_account_number
        )
    if instruction.reference:
        initiation["RemittanceInformation"] = {
            "Reference": instruction.reference[: constants.REFERENCE_MAX],
            "Unstructured": instruction.reference[: constants.UNSTRUCTURED_MAX],
        }
    if instruction.requested_execution_date:
        moment = datetime.combine(instruction.requested_execution_date, time.min, UTC)
        initiation["RequestedExecutionDateTime"] = moment.isoformat(timespec="seconds")
    return initiation


class OBIEPayments:
    """The PIS calls of one OBIE bank (used by ``OBIEAdapter``; the only place that builds PIS requests)."""

    def __init__(self, client: OBIEClient, pis_prefix: str = "") -> None:
        self.client = client
        self.base = client.base_url + (pis_prefix or constants.PIS_PREFIX)

    def _token(self) -> str:
        body = self.client.token({"grant_type": "client_credentials", "scope": constants.PAYMENTS_SCOPE})
        return str(body["access_token"])

    def _call(self, method: str, path: str, token: str, *, body: Any = None, key: str = "") -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        if key:
            headers["x-idempotency-key"] = idempotency_header(key)
        response = provider_client().request(
            method, f"{self.base}{path}", json_body=body, headers=headers, error_mapper=pis_error
        )
        return response.json_object()

    def start(
        self, instruction: PaymentInstruction, *, idempotency_key: str, redirect_uri: str
    ) -> AuthorizationRequest:
        segment, id_field = _kind(instruction)
        data: dict[str, Any] = {"Initiation": initiation_for(instruction)}
        if segment == constants.DOMESTIC_SCHEDULED[0]:
            data["Permission"] = "Create"
        body = {"Data": data, "Risk": {}}
        answer = self._call("POST", f"/{segment}-payment-consents", self._token(), body=body, key=idempotency_key)
        consent_id = str((answer.get("Data") or {}).get("ConsentId") or "")
        if not consent_id:
            raise malformed("payment consent response without Data.ConsentId")
        return authorization_request_build(
            server=self.client.server(),
            client_id=self.client.client_id,
            redirect_uri=redirect_uri,
            scope=constants.PAYMENTS_SCOPE,
            consent_id=consent_id,
            extra={"segment": segment, "id_field": id_field, "initiation": data["Initiation"], "risk": {}},
        )

    def submit(self, credentials: Credentials, *, auth: AuthorizationRequest, idempotency_key: str) -> BankPayment:
        segment, id_field = str(auth.extra["segment"]), str(auth.extra["id_field"])
        body = {
            "Data": {"ConsentId": auth.consent_id, "Initiation": auth.extra["initiation"]},
            "Risk": auth.extra.get("risk") or {},
        }
        answer = self._call("POST", f"/{segment}-payments", credentials.access_token, body=body, key=idempotency_key)
        return self._payment(answer, segment, id_field)

    def get(self, bank_payment_id: str) -> BankPayment:
        token = self._token()
        for segment, id_field in (constants.DOMESTIC, constants.DOMESTIC_SCHEDULED):
            try:
                answer = self._call("GET", f"/{segment}-payments/{bank_payment_id}", token)
            except PaymentRejectedError as exc:
                if exc.reason_code == "UK.OBIE.Resource.NotFound":
                    continue
                raise
            return self._payment(answer, segment, id_field, token=token)
        raise PaymentRejectedError(
            f"the bank knows no payment {bank_payment_id}", reason_code="UK.OBIE.Resource.NotFound"
        )

    def funds(self, credentials: Credentials, *, auth: AuthorizationRequest) -> bool:
        answer = self._call(
            "GET", f"/domestic-payment-consents/{auth.consent_id}/funds-confirmation", credentials.access_token
        )
        result = (answer.get("Data") or {}).get("FundsAvailableResult") or {}
        if not isinstance(result.get("FundsAvailable"), bool):
            raise malformed("funds-confirmation without Data.FundsAvailableResult.FundsAvailable")
        return result["FundsAvailable"]

    def _payment(self, answer: dict[str, Any], segment: str, id_field: str, token: str = "") -> BankPayment:
        data = answer.get("Data") or {}
        payment_id, status = str(data.get(id_field) or ""), str(data.get("Status") or "")
        if not payment_id or status not in constants.PAYMENT_STATUSES:
            raise malformed(f"payment response without {id_field} or with an unknown Status {status!r}")
        ours = constants.PAYMENT_STATUSES[status]
        reason_code = reason = ""
        if ours == "rejected":
            reason_code, reason = self._reason(segment, payment_id, token or self._token())
        return BankPayment(
            bank_payment_id=payment_id,
            status=ours,
            bank_status=status,
            reason_code=reason_code,
            reason=reason,
            bank_consent_id=str(data.get("ConsentId") or ""),
            end_to_end_id=str((data.get("Initiation") or {}).get("EndToEndIdentification") or ""),
            raw=answer,
        )

    def _reason(self, segment: str, payment_id: str, token: str) -> tuple[str, str]:
        """The rejection's reason from ``payment-details``: ``StatusDetail.Status`` (the rail's code, e.g. AM04)
        else ``StatusReason``, and ``StatusReasonDescription``."""
        try:
            answer = self._call("GET", f"/{segment}-payments/{payment_id}/payment-details", token)
        except ProviderError:
            return "", ""
        for item in (answer.get("Data") or {}).get("PaymentStatus") or []:
            detail = item.get("StatusDetail") or {}
            code = str(detail.get("Status") or "")
            if code in ("", "Rejected"):
                code = str(detail.get("StatusReason") or "")
            return code, str(detail.get("StatusReasonDescription") or "")
        return "", ""
