"""The normalized model's invariants are enforced by the database, not only by Python."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction

from aggregator.models import Account, Transaction, mask_identifier
from tests.factories import AccountFactory, BalanceFactory, ConnectionFactory, TransactionFactory

pytestmark = pytest.mark.django_db


def test_a_duplicate_provider_transaction_id_on_the_same_account_is_rejected():
    txn = TransactionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        TransactionFactory(account=txn.account, provider_transaction_id=txn.provider_transaction_id)


def test_the_same_provider_transaction_id_may_exist_on_two_accounts():
    txn = TransactionFactory()
    other = TransactionFactory(provider_transaction_id=txn.provider_transaction_id)
    assert other.pk != txn.pk


def test_a_duplicate_provider_account_id_on_the_same_connection_is_rejected():
    account = AccountFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        AccountFactory(connection=account.connection, provider_account_id=account.provider_account_id)


def test_a_float_amount_never_sneaks_in():
    account = AccountFactory()
    with pytest.raises(TypeError, match="never float"), transaction.atomic():
        TransactionFactory(account=account, amount=0.1)
    assert not Transaction.objects.filter(account=account).exists()


def test_a_float_filter_value_is_refused_too():
    with pytest.raises(TypeError, match="never float"):
        list(Transaction.objects.filter(amount=0.1))


def test_amounts_round_trip_as_exact_decimals():
    txn = TransactionFactory(amount=Decimal("-1234567890.1234"))
    txn.refresh_from_db()
    assert txn.amount == Decimal("-1234567890.1234")
    assert isinstance(txn.amount, Decimal)


@pytest.mark.parametrize("currency", ["gbp", "GB", "EURO", "12A", ""])
def test_the_database_rejects_a_currency_that_is_not_three_upper_case_letters(currency):
    account = AccountFactory()
    # PostgreSQL refuses over-long values with DataError before the CHECK; SQLite relies on the CHECK.
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        # .update() bypasses model validation: the CHECK constraint is the last line of defence.
        Account.objects.filter(pk=account.pk).update(currency=currency)


def test_model_validation_explains_a_bad_currency():
    account = AccountFactory.build(connection=ConnectionFactory(), currency="eur")
    with pytest.raises(ValidationError) as excinfo:
        account.full_clean()
    assert "ISO 4217" in str(excinfo.value)


def test_the_database_rejects_an_unknown_transaction_status():
    txn = TransactionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Transaction.objects.filter(pk=txn.pk).update(status="settled")


def test_one_balance_per_type_and_account():
    balance = BalanceFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        BalanceFactory(account=balance.account, type=balance.type)


def test_identifiers_are_masked_to_their_last_four_characters():
    account = AccountFactory.build(iban="GB29 NWBK 6016 1331 9268 19", account_number="", masked_pan="")
    assert account.masked_identifier == "••••6819"
    assert mask_identifier("") == ""
    uk = AccountFactory.build(iban="", sort_code="601613", account_number="31926819")
    assert uk.masked_identifier == "601613 ••••6819"


def test_an_account_the_bank_shows_only_by_its_mask_is_still_identified():
    us = AccountFactory.build(iban="", account_number="", masked_pan="", account_number_mask="6789")
    assert us.masked_identifier == "••••6789"
    full = AccountFactory.build(iban="", sort_code="", account_number="4417006789", account_number_mask="6789")
    assert full.masked_identifier == "••••6789"


def test_the_hot_query_index_exists():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Transaction._meta.db_table)
    index = constraints["txn_account_newest_idx"]
    assert index["columns"] == ["account_id", "booking_date", "id"]
