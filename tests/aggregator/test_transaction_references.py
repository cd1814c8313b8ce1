"""The references into transactions carry no database foreign key (the table is partitioned by account on
PostgreSQL: aggregator/migrations/0013); Django's collector keeps their integrity when transactions go."""

from __future__ import annotations

import pytest
from django.utils import timezone

from aggregator.insights.models import RiskSignal, TransactionEnrichment
from aggregator.models import Transaction
from aggregator.payments.models import Payment
from tests.factories import PaymentConsentFactory, TransactionFactory

pytestmark = pytest.mark.django_db


def _referenced_transaction() -> tuple[Transaction, Payment]:
    txn = TransactionFactory()
    TransactionEnrichment.objects.create(
        transaction=txn,
        category_primary="FOOD",
        category_detailed="FOOD_GROCERIES",
        confidence="high",
        source="rule",
        probability=0.9,
        taxonomy_version="1",
        updated_at=timezone.now(),
    )
    RiskSignal.objects.create(
        account=txn.account,
        transaction=txn,
        kind="large_transaction",
        subject_key=str(txn.public_id),
        score=0.9,
        reason="Larger than usual.",
        transaction_ids=[str(txn.public_id)],
        detected_at=timezone.now(),
    )
    consent = PaymentConsentFactory(debtor_account=txn.account)
    payment = Payment.objects.create(
        consent=consent,
        client_id=consent.client_id,
        idempotency_key="key-1",
        request_hash="0" * 64,
        bank_idempotency_key="bank-key-1",
        end_to_end_id=consent.end_to_end_id,
        amount=consent.amount,
        currency="GBP",
        status="settled",
        transaction=txn,
    )
    return txn, payment


def test_deleting_a_transaction_deletes_its_enrichment_and_risk_signals() -> None:
    txn, _ = _referenced_transaction()
    Transaction.objects.filter(pk=txn.pk).delete()
    assert not TransactionEnrichment.objects.filter(transaction_id=txn.pk).exists()
    assert not RiskSignal.objects.filter(transaction_id=txn.pk).exists()


def test_deleting_a_transaction_unlinks_its_payment() -> None:
    txn, payment = _referenced_transaction()
    Transaction.objects.filter(pk=txn.pk).delete()
    payment.refresh_from_db()
    assert payment.transaction_id is None


def test_no_foreign_key_points_into_the_transactions_table() -> None:
    for model in (Payment, TransactionEnrichment, RiskSignal):
        assert model._meta.get_field("transaction").db_constraint is False
