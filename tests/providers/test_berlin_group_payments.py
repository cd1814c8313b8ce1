"""The Berlin Group adapter's payment initiation against the live rhein sandbox (served in-process): initiation,
the SCA at the bank, statuses over the sandbox clock with their ISO reasons, the X-Request-ID idempotency that
saves a retried initiation after a timeout from paying twice, and the end-to-end id on the debit it reads back."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from providers.adapters.berlin_group import BerlinGroupAdapter
from providers.adapters.berlin_group.payments import request_id_for
from providers.base import PaymentInstruction, PaymentRejectedError, TransientProviderError
from providers.sandbox.bankdata import sandbox_now, user_accounts
from providers.sandbox.clock import clock_advance
from providers.sandbox.models import SandboxPayment

from .sandbox_http import REDIRECT, approve, config

CONFIG = config("rhein")


def _instruction(username: str = "alice", **overrides) -> PaymentInstruction:  # type: ignore[no-untyped-def]
    debtor = user_accounts("rhein", username)[0]
    bob = user_accounts("rhein", "bob")[0]
    fields = {
        "instruction_id": "I-" + uuid.uuid4().hex[:12],
        "end_to_end_id": "E2E-" + uuid.uuid4().hex[:16],
        "amount": Decimal("20.00"),
        "currency": "EUR",
        "creditor_name": bob.holder_name,
        "creditor_iban": bob.iban,
        "debtor_iban": debtor.iban,
        "reference": "Rechnung 7",
    }
    fields.update(overrides)
    return PaymentInstruction(**fields)


def _pay(sandbox, username: str, instruction: PaymentInstruction, key: str, action: str = "approve"):  # type: ignore[no-untyped-def]
    adapter = BerlinGroupAdapter(CONFIG, psu_ip_address="192.168.8.78")
    auth = adapter.start_payment_authorization(instruction, idempotency_key=key, redirect_uri=REDIRECT)
    answer = approve(sandbox, auth.url, username, user_accounts("rhein", username)[0].id, action=action)
    if "code" not in answer:
        return adapter, auth, None, answer
    credentials = adapter.complete_payment_authorization(code=answer["code"], redirect_uri=REDIRECT, auth=auth)
    return adapter, auth, credentials, answer


def test_a_payment_is_accepted_by_the_sca_and_settles_and_the_adapter_reads_its_debit_back(sandbox):
    instruction = _instruction()
    adapter, auth, credentials, _ = _pay(sandbox, "alice", instruction, "key-a")
    payment = adapter.submit_payment(credentials, instruction, auth=auth, idempotency_key="key-a")
    assert (payment.status, payment.bank_status, payment.bank_payment_id) == ("accepted", "ACTC", auth.consent_id)
    clock_advance(61)
    settled = adapter.get_payment(credentials, payment.bank_payment_id)
    assert (settled.status, settled.bank_status) == ("settled", "ACSC")

    # the debit, through the adapter's own AIS path (a data consent of the same user)
    reader = BerlinGroupAdapter(CONFIG, psu_ip_address="192.168.8.78")
    connect = reader.start_authorization(redirect_uri=REDIRECT)
    account = user_accounts("rhein", "alice")[0]
    code = approve(sandbox, connect.url.replace("/connect/callback/", "/payments/callback/"), "alice", account.id)
    creds = reader.exchange_code(code=code["code"], redirect_uri=REDIRECT, auth=connect)
    accounts = {a.provider_account_id: a for a in reader.list_accounts(creds)}
    pages = reader.iter_transactions(creds, accounts[account.id], since=sandbox_now().date() - timedelta(days=2))
    mine = [t for page in pages for t in page.transactions if t.end_to_end_id == instruction.end_to_end_id]
    assert [(t.status, t.amount, t.description) for t in mine] == [("booked", Decimal("-20.00"), "Rechnung 7")]


def test_a_timeout_after_accepting_the_initiation_is_retried_with_the_same_request_id(sandbox):
    instruction = _instruction("timothy")
    adapter = BerlinGroupAdapter(CONFIG)
    with pytest.raises(TransientProviderError):
        adapter.start_payment_authorization(instruction, idempotency_key="key-t", redirect_uri=REDIRECT)
    auth = adapter.start_payment_authorization(instruction, idempotency_key="key-t", redirect_uri=REDIRECT)
    assert SandboxPayment.objects.filter(bank="rhein", username="timothy").count() == 1
    assert SandboxPayment.objects.get(bank="rhein", username="timothy").pk == auth.consent_id
    assert request_id_for("key-t") == request_id_for("key-t") != request_id_for("key-u")


@pytest.mark.parametrize(
    ("username", "overrides", "reason"), [("penny", {}, "AM04"), ("alice", {"creditor_name": "Not Bob"}, "BE01")]
)
def test_rejections_carry_their_iso_reason_code(sandbox, username, overrides, reason):
    instruction = _instruction(username, **overrides)
    adapter, auth, credentials, _ = _pay(sandbox, username, instruction, f"key-{reason}")
    payment = adapter.submit_payment(credentials, instruction, auth=auth, idempotency_key=f"key-{reason}")
    assert (payment.status, payment.bank_status, payment.reason_code) == ("rejected", "RJCT", reason)


def test_an_instant_payment_is_initiated_as_such_and_bad_instructions_are_refused(sandbox):
    instruction = _instruction(instant=True)
    adapter, auth, credentials, _ = _pay(sandbox, "alice", instruction, "key-i")
    assert auth.extra["product"] == "instant-sepa-credit-transfers"
    clock_advance(11)
    assert adapter.get_payment(credentials, auth.consent_id).status == "settled"
    with pytest.raises(PaymentRejectedError):
        adapter.start_payment_authorization(
            _instruction(debtor_iban="", debtor_sort_code="600000"), idempotency_key="key-x", redirect_uri=REDIRECT
        )
    with pytest.raises(PaymentRejectedError) as caught:
        adapter.start_payment_authorization(
            _instruction(amount=Decimal("-1")), idempotency_key="key-y", redirect_uri=REDIRECT
        )
    assert caught.value.reason_code == "FORMAT_ERROR"
