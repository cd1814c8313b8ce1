"""The OBIE adapter's payment initiation against the live albion sandbox (its HTTP served in-process: respx
forwards every request the adapter makes to the Django app), end to end: consent, the user's approval at the
bank, submission, idempotent retries after a timeout, statuses over the sandbox clock, the reason of a
rejection, and the debit's end-to-end id in the transactions the adapter reads back."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from providers.adapters.obie import OBIEAdapter
from providers.base import PaymentInstruction, PaymentRejectedError, TransientProviderError
from providers.sandbox.bankdata import sandbox_now, user_accounts
from providers.sandbox.clock import clock_advance
from providers.sandbox.models import SandboxPayment

from .sandbox_http import REDIRECT, approve, config

pytestmark = pytest.mark.django_db

CONFIG = config("albion")


def _instruction(**overrides) -> PaymentInstruction:  # type: ignore[no-untyped-def]
    bob = user_accounts("albion", "bob")[0]
    fields = {
        "instruction_id": "I-" + uuid.uuid4().hex[:12],
        "end_to_end_id": "E2E-" + uuid.uuid4().hex[:16],
        "amount": Decimal("20.00"),
        "currency": "GBP",
        "creditor_name": bob.holder_name,
        "creditor_sort_code": bob.sort_code,
        "creditor_account_number": bob.account_number,
        "reference": "Invoice 7",
    }
    fields.update(overrides)
    return PaymentInstruction(**fields)


def _authorised(sandbox, username: str, instruction: PaymentInstruction, key: str):  # type: ignore[no-untyped-def]
    adapter = OBIEAdapter(CONFIG)
    auth = adapter.start_payment_authorization(instruction, idempotency_key=key, redirect_uri=REDIRECT)
    account = user_accounts("albion", username)[0]
    code = approve(sandbox, auth.url, username, account.id)["code"]
    credentials = adapter.complete_payment_authorization(code=code, redirect_uri=REDIRECT, auth=auth)
    return adapter, auth, credentials, account


def test_a_payment_is_accepted_settles_and_its_debit_carries_the_end_to_end_id(sandbox):
    instruction = _instruction()
    adapter, auth, credentials, _ = _authorised(sandbox, "alice", instruction, "key-a")
    assert adapter.confirm_funds(credentials, auth=auth) is True
    payment = adapter.submit_payment(credentials, instruction, auth=auth, idempotency_key="key-a")
    assert (payment.status, payment.bank_status) == ("accepted", "AcceptedSettlementInProcess")
    assert payment.end_to_end_id == instruction.end_to_end_id and payment.bank_consent_id == auth.consent_id
    clock_advance(61)
    settled = adapter.get_payment(credentials, payment.bank_payment_id)
    assert (settled.status, settled.bank_status) == ("settled", "AcceptedSettlementCompleted")


def test_a_timeout_after_acceptance_is_transient_and_the_retry_with_the_same_key_returns_the_same_payment(sandbox):
    instruction = _instruction()
    adapter, auth, credentials, _ = _authorised(sandbox, "timothy", instruction, "key-t")
    with pytest.raises(TransientProviderError):
        adapter.submit_payment(credentials, instruction, auth=auth, idempotency_key="key-t")
    again = adapter.submit_payment(credentials, instruction, auth=auth, idempotency_key="key-t")
    assert SandboxPayment.objects.filter(bank="albion", username="timothy", submitted_at__isnull=False).count() == 1
    assert again.status == "accepted"


def test_insufficient_funds_come_back_rejected_with_AM04(sandbox):
    instruction = _instruction()
    adapter, auth, credentials, _ = _authorised(sandbox, "penny", instruction, "key-p")
    assert adapter.confirm_funds(credentials, auth=auth) is False
    payment = adapter.submit_payment(credentials, instruction, auth=auth, idempotency_key="key-p")
    assert (payment.status, payment.bank_status, payment.reason_code) == ("rejected", "Rejected", "AM04")


def test_a_failed_payee_check_is_a_payment_rejected_error(sandbox):
    adapter = OBIEAdapter(CONFIG)
    with pytest.raises(PaymentRejectedError) as caught:
        adapter.start_payment_authorization(
            _instruction(creditor_name="Not Bob"), idempotency_key="key-c", redirect_uri=REDIRECT
        )
    assert caught.value.reason_code == "UK.OBIE.Field.Invalid"


def test_a_long_idempotency_key_is_shortened_stably_and_a_reused_key_with_another_instruction_is_refused(sandbox):
    adapter = OBIEAdapter(CONFIG)
    key = "k" * 80
    first = adapter.start_payment_authorization(
        _instruction(instruction_id="SAME"), idempotency_key=key, redirect_uri=REDIRECT
    )
    with pytest.raises(PaymentRejectedError) as caught:
        adapter.start_payment_authorization(
            _instruction(instruction_id="OTHER"), idempotency_key=key, redirect_uri=REDIRECT
        )
    assert caught.value.reason_code == "UK.OBIE.Header.Invalid"
    assert first.consent_id


def test_a_scheduled_payment_is_pending_until_its_date(sandbox):
    instruction = _instruction(requested_execution_date=(sandbox_now() + timedelta(days=3)).date())
    adapter, auth, credentials, _ = _authorised(sandbox, "alice", instruction, "key-s")
    payment = adapter.submit_payment(credentials, instruction, auth=auth, idempotency_key="key-s")
    assert (payment.status, payment.bank_status) == ("pending", "InitiationPending")
    clock_advance(int(timedelta(days=4).total_seconds()))
    assert adapter.get_payment(credentials, payment.bank_payment_id).status == "settled"
