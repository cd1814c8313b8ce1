"""Payment consents and payments through their services, against the in-memory bank (tests/payments/fakes.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from aggregator.domain_events import subscribe, unsubscribe
from aggregator.exceptions import ConflictError, InvalidInputError, UnprocessableError
from aggregator.payments.consents import payment_consents_expire_due
from aggregator.payments.models import Payment, PaymentConsent, PaymentEvent
from aggregator.payments.outbox import payment_refresh_status, payment_submit, payments_check_due
from aggregator.payments.services import payment_create
from consent.models import Consent
from consent.services import consent_create_for_payment, consent_revoke
from providers.base import PaymentRejectedError

from .conftest import INSTRUCTION, authorised_payment_consent

pytestmark = pytest.mark.django_db


@pytest.fixture
def events():  # type: ignore[no-untyped-def]
    seen = []
    subscribe(seen.append, dispatch_uid="test-payment-events")
    yield seen
    unsubscribe("test-payment-events")


def _pay(consent: Consent, key: str = "key-1", **changes):  # type: ignore[no-untyped-def]
    return payment_create(
        consent=consent.payment_consent,
        client_id=consent.application.client_id,
        idempotency_key=key,
        instruction={**INSTRUCTION, **changes},
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"currency": "POUNDS"}, "currency"),
        ({"creditor_name": ""}, "creditor_name"),
        ({"creditor_iban": "GB00NWBK60161331926819"}, "creditor_iban"),  # check digits wrong, and both schemes
        ({"creditor_sort_code": "12345"}, "creditor_sort_code"),
        ({"creditor_account_number": "1234"}, "creditor_account_number"),
        ({"reference": "x" * 36}, "reference"),
        ({"requested_execution_date": "2020-01-01"}, "requested_execution_date"),
    ],
)
def test_a_malformed_instruction_is_refused_with_its_field(tpp, change, field):
    with pytest.raises(InvalidInputError) as info:
        consent_create_for_payment(application=tpp, instruction={**INSTRUCTION, **change})
    assert info.value.field == field
    assert not PaymentConsent.objects.exists()


def test_an_iban_creditor_is_accepted_with_spaces_and_normalised(tpp):
    instruction = {**INSTRUCTION, "currency": "eur", "creditor_sort_code": "", "creditor_account_number": ""}
    consent = consent_create_for_payment(
        application=tpp, instruction={**instruction, "creditor_iban": "de89 3704 0044 0532 0130 00"}
    )
    pc = consent.payment_consent
    assert (pc.creditor_iban, pc.currency, pc.amount) == ("DE89370400440532013000", "EUR", Decimal("42.50"))
    assert consent.pk == pc.public_id and consent.permissions == ["payments"]


def test_the_authorised_consent_carries_the_bank_credentials_encrypted(authorised, pay_bank):
    pc = PaymentConsent.objects.get(pk=authorised.payment_consent_id)
    assert pc.status == "authorised" and authorised.status == "authorised"
    assert pc.bank_consent_id.startswith("bank-consent-") and pc.bank_state == ""
    assert "pay-token" not in pc.encrypted_credentials and pc.encrypted_credentials
    assert pay_bank.calls == ["start", "complete"]


def test_a_payment_goes_to_the_bank_once_and_follows_its_status(authorised, pay_bank, events):
    payment, created = _pay(authorised)
    assert created and payment.status == "pending"
    assert PaymentConsent.objects.get(pk=authorised.payment_consent_id).status == "consumed"
    payment = payment_submit(payment=payment)
    assert (payment.status, payment.bank_status, payment.bank_payment_id) == (
        "accepted",
        "AcceptedSettlementInProcess",
        "bank-pay-1",
    )
    payment = payment_refresh_status(payment=payment)
    assert (payment.status, payment.bank_status) == ("settled", "AcceptedSettlementCompleted")
    payment_submit(payment=payment)  # final: nothing more is sent
    assert pay_bank.calls.count("submit") == 1
    names = [(e.name, e.data["status"]) for e in events if e.name.startswith("payment.")]
    assert names == [
        ("payment.initiated", "pending"),
        ("payment.status_changed", "accepted"),
        ("payment.status_changed", "settled"),
    ]
    event = events[-1]
    assert event.subject_type == "payment" and event.subject_id == str(payment.public_id)
    assert event.data["amount"] == "42.50" and event.data["previous_status"] == "accepted"
    assert "Acme" not in str(event.data) and "55779911" not in str(event.data)
    kinds = list(PaymentEvent.objects.filter(payment=payment).values_list("kind", flat=True))
    assert kinds == ["payment.created", "bank.submitted", "bank.status"]


def test_the_same_key_and_body_give_the_same_payment(authorised):
    first, created = _pay(authorised)
    again, created_again = _pay(authorised, amount="42.5")  # the same amount, written differently
    assert created and not created_again and again.pk == first.pk
    assert Payment.objects.count() == 1


def test_the_same_key_with_another_body_is_refused(authorised):
    _pay(authorised)
    with pytest.raises(UnprocessableError) as info:
        _pay(authorised, reference="SOMETHING ELSE")
    assert info.value.code == "idempotency_key_reused"


def test_a_consent_pays_once_whatever_the_key(authorised):
    _pay(authorised, key="key-1")
    with pytest.raises(ConflictError) as info:
        _pay(authorised, key="key-2")
    assert info.value.code == "payment_consent_consumed"
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "42.51"},
        {"creditor_name": "Mallory Ltd"},
        {"creditor_account_number": "99999999"},
        {"reference": "OTHER"},
        {"currency": "EUR"},
    ],
)
def test_a_payment_that_differs_from_its_consent_is_refused(authorised, change):
    with pytest.raises(InvalidInputError) as info:
        _pay(authorised, **change)
    assert info.value.code == "instruction_mismatch"
    assert not Payment.objects.exists()
    assert PaymentConsent.objects.get(pk=authorised.payment_consent_id).status == "authorised"


def test_a_payment_under_an_expired_consent_is_refused(authorised):
    PaymentConsent.objects.filter(pk=authorised.payment_consent_id).update(expires_at=timezone.now())
    with pytest.raises(ConflictError) as info:
        _pay(authorised)
    assert info.value.code == "payment_consent_expired"
    assert payment_consents_expire_due() == 1
    assert PaymentConsent.objects.get(pk=authorised.payment_consent_id).status == "expired"


def test_a_payment_under_a_consent_not_yet_authorised_is_refused(tpp):
    consent = consent_create_for_payment(application=tpp, instruction=INSTRUCTION)
    with pytest.raises(ConflictError) as info:
        _pay(consent)
    assert info.value.code == "payment_consent_not_authorised"


@pytest.mark.parametrize(("key", "code"), [("", "idempotency_key_missing"), ("bad key", "idempotency_key_invalid")])
def test_a_missing_or_invalid_idempotency_key_is_refused(authorised, key, code):
    with pytest.raises(InvalidInputError) as info:
        _pay(authorised, key=key)
    assert info.value.code == code


def test_a_lost_answer_after_the_bank_accepted_never_pays_twice(authorised, pay_bank):
    """The crash/timeout between the bank's acceptance and our commit: the retry sends the same bank key."""
    pay_bank.timeout_after_accept = 1
    payment, _ = _pay(authorised)
    with pytest.raises(Exception) as info:
        payment_submit(payment=payment)
    assert info.value.code == "timeout"
    payment.refresh_from_db()
    assert payment.status == "pending" and payment.bank_payment_id == "" and payment.submit_attempts == 1
    assert len(pay_bank.executed()) == 1
    payment = payment_submit(payment=payment)  # the task's retry
    assert payment.status == "accepted" and payment.bank_payment_id == "bank-pay-1"
    assert len(pay_bank.executed()) == 1 and list(pay_bank.payments) == [payment.bank_idempotency_key]


def test_the_periodic_check_resubmits_a_payment_whose_task_was_lost(authorised, pay_bank):
    payment, _ = _pay(authorised)
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - dt.timedelta(minutes=5))
    assert payments_check_due() == 1
    payment.refresh_from_db()
    assert payment.status == "accepted" and len(pay_bank.executed()) == 1


def test_a_rejected_payment_keeps_the_banks_reason(authorised, pay_bank, events):
    pay_bank.reject_with = PaymentRejectedError(
        "insufficient funds", reason_code="UK.OBIE.Rules.FailsControlParameters", reason="Insufficient funds"
    )
    payment, _ = _pay(authorised)
    payment = payment_submit(payment=payment)
    assert (payment.status, payment.reason_code, payment.reason) == (
        "rejected",
        "UK.OBIE.Rules.FailsControlParameters",
        "Insufficient funds",
    )
    assert events[-1].data["reason_code"] == "UK.OBIE.Rules.FailsControlParameters"


def test_a_bank_that_never_answers_fails_the_payment_after_the_give_up_time(authorised, pay_bank):
    pay_bank.timeout_before = 1
    payment, _ = _pay(authorised)
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - dt.timedelta(days=2))
    payment = payment_submit(payment=payment)
    assert payment.status == "failed" and payment.reason_code == "timeout"
    assert pay_bank.executed() == []


def test_revoking_the_oauth_consent_revokes_an_unused_payment_consent(authorised):
    consent_revoke(consent=authorised, actor_type="tpp", reason="changed my mind")
    assert PaymentConsent.objects.get(pk=authorised.payment_consent_id).status == "revoked"


def test_a_consent_used_by_its_payment_stays_consumed_when_revoked(authorised):
    _pay(authorised)
    consent_revoke(consent=authorised, actor_type="user")
    assert PaymentConsent.objects.get(pk=authorised.payment_consent_id).status == "consumed"


def test_a_second_payment_consent_is_independent(tpp, alice, alice_account, pay_bank):
    one = authorised_payment_consent(tpp, alice, alice_account)
    two = authorised_payment_consent(tpp, alice, alice_account, amount="10.00")
    _pay(one, key="a")
    payment, created = _pay(two, key="b", amount="10.00")
    assert created and payment.amount == Decimal("10.00")
