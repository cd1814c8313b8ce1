"""A small insights model, trained once per test session from one generated seed (a few seconds), and a helper
that stores a generated account's history as synced transactions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.insights.model import CategoryModel, fit_model, save_model
from aggregator.insights.taxonomy import taxonomy
from aggregator.insights.training import build_directory, labelled_inputs, training_pairs
from aggregator.models import Transaction
from providers.sandbox.data.labels import labelled_history, merchant_category_code, synthetic_plans
from tests.factories import AccountFactory, BalanceFactory

SMALL_NOW = datetime(2024, 5, 31, 12, tzinfo=UTC)


@pytest.fixture(scope="session")
def small_model() -> CategoryModel:
    train = labelled_inputs([1], SMALL_NOW)
    calibration = labelled_inputs([2], SMALL_NOW)
    return fit_model(
        training_pairs(train),
        training_pairs(calibration),
        taxonomy_version=taxonomy().version,
        directory=build_directory(train),
    )


@pytest.fixture
def model_file(small_model: CategoryModel, tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "model.joblib"
    save_model(small_model, path)
    settings.INSIGHTS = {"MODEL_PATH": str(path)}
    return path


def store_history(seed: int = 4711, index: int = 0, **account_fields):  # type: ignore[no-untyped-def]
    """A generated account's booked history stored as synced transactions → (account, {provider id: label})."""
    plan = synthetic_plans(seed, anomaly_rate=0.5)[index]
    account = AccountFactory(holder_name=plan.account.holder_name, currency=plan.account.currency, **account_fields)
    history = labelled_history(plan, SMALL_NOW)
    Transaction.objects.bulk_create(
        Transaction(
            account=account,
            provider_transaction_id=tx.id,
            status="booked",
            booking_date=tx.booking_date,
            booked_at=tx.booked_at,
            amount=tx.amount,
            currency=tx.currency,
            description=tx.description,
            merchant_name=tx.merchant_name,
            counterparty_name=tx.counterparty_name,
            bank_transaction_code=tx.bank_transaction_code,
            merchant_category_code=merchant_category_code(tx),
        )
        for tx, _ in history
    )
    BalanceFactory(account=account, amount="1500.00")
    return account, {tx.id: label for tx, label in history}
