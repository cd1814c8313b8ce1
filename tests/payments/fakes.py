"""A bank that takes payments, in memory, behind the real ``BankAdapter`` payment interface (no network).

``FakePayBank.current`` holds the payments by the bank's idempotency key, exactly once per key like a real bank:
the same key gives the same payment back. Tests script outcomes: ``reject_with`` (a ``PaymentRejectedError``),
``timeout_after_accept`` (the bank executes the payment and then the answer is lost: ``TransientProviderError``),
``next_status`` (what ``get_payment`` says next), ``funds`` (funds confirmation).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from providers.base import (
    AuthorizationRequest,
    BankPayment,
    Credentials,
    PaymentInstruction,
    PaymentRejectedError,
    TransientProviderError,
)
from tests.aggregator.sync_fakes import ADAPTER_PATHS, FakeBank, FakeWindowAdapter

PAY_ADAPTER = "tests.payments.fakes.FakePayAdapter"


@dataclass
class FakePayBank:
    consents: dict[str, PaymentInstruction] = field(default_factory=dict)  # bank consent id -> instruction
    payments: dict[str, BankPayment] = field(default_factory=dict)  # idempotency key -> payment
    reject_with: PaymentRejectedError | None = None
    timeout_after_accept: int = 0  # this many submits execute, then lose the answer
    timeout_before: int = 0  # this many submits fail before reaching the bank
    next_status: str = "settled"
    funds: bool = True
    calls: list[str] = field(default_factory=list)

    current: ClassVar[FakePayBank | None] = None

    def executed(self) -> list[BankPayment]:
        return list(self.payments.values())


def pay_bank() -> FakePayBank:
    assert FakePayBank.current is not None, "use the pay_bank fixture"
    return FakePayBank.current


class FakePayAdapter(FakeWindowAdapter):
    name = "fake_pay"
    supports_payments = True
    supports_funds_confirmation = True

    def start_payment_authorization(
        self, instruction: PaymentInstruction, *, idempotency_key: str, redirect_uri: str
    ) -> AuthorizationRequest:
        bank = pay_bank()
        bank.calls.append("start")
        consent_id = f"bank-consent-{idempotency_key}"
        bank.consents[consent_id] = instruction
        return AuthorizationRequest(
            url=f"https://fake-pay.invalid/sca?consent={consent_id}",
            state=f"state-{idempotency_key}",
            code_verifier="verifier",
            consent_id=consent_id,
            extra={"redirect_uri": redirect_uri},
        )

    def complete_payment_authorization(
        self, *, code: str, redirect_uri: str, auth: AuthorizationRequest
    ) -> Credentials:
        pay_bank().calls.append("complete")
        assert auth.code_verifier == "verifier" and code == "bank-code"
        return Credentials(
            access_token=f"pay-token-{auth.consent_id}",
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
            consent_id=auth.consent_id,
        )

    def submit_payment(
        self,
        credentials: Credentials,
        instruction: PaymentInstruction,
        *,
        auth: AuthorizationRequest,
        idempotency_key: str,
    ) -> BankPayment:
        bank = pay_bank()
        bank.calls.append("submit")
        assert bank.consents[auth.consent_id] == instruction, "the instruction changed after authorisation"
        if bank.timeout_before:
            bank.timeout_before -= 1
            raise TransientProviderError("timed out before reaching the bank", code="timeout")
        if bank.reject_with is not None:
            raise bank.reject_with
        payment = bank.payments.get(idempotency_key)
        if payment is None:
            payment = BankPayment(
                bank_payment_id=f"bank-pay-{len(bank.payments) + 1}",
                status="accepted",
                bank_status="AcceptedSettlementInProcess",
                end_to_end_id=instruction.end_to_end_id,
            )
            bank.payments[idempotency_key] = payment
        if bank.timeout_after_accept:
            bank.timeout_after_accept -= 1
            raise TransientProviderError("the bank's answer was lost", code="timeout")
        return payment

    def get_payment(self, credentials: Credentials, bank_payment_id: str) -> BankPayment:
        bank = pay_bank()
        bank.calls.append("get")
        payment = next(p for p in bank.payments.values() if p.bank_payment_id == bank_payment_id)
        words = {"settled": "AcceptedSettlementCompleted", "rejected": "Rejected", "accepted": payment.bank_status}
        return BankPayment(
            bank_payment_id=bank_payment_id,
            status=bank.next_status,
            bank_status=words.get(bank.next_status, bank.next_status),
            reason_code="UK.OBIE.Rejected" if bank.next_status == "rejected" else "",
            end_to_end_id=payment.end_to_end_id,
        )

    def confirm_funds(self, credentials: Credentials, *, auth: AuthorizationRequest) -> bool:
        pay_bank().calls.append("funds")
        return pay_bank().funds


@pytest.fixture
def pay_bank_fixture(settings):  # type: ignore[no-untyped-def]
    settings.AGGREGATOR = {
        **settings.AGGREGATOR,
        "ADAPTERS": [*ADAPTER_PATHS, PAY_ADAPTER],
        "ADAPTER_ENTRY_POINT_GROUP": "",
    }
    FakeBank.current = FakeBank()
    FakePayBank.current = FakePayBank()
    yield FakePayBank.current
    FakePayBank.current = None
    FakeBank.current = None
