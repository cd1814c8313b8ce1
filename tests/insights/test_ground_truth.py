"""The sandbox generator's ground truth: labels, MCCs the banks send, injected anomalies, sandbox_export --labels."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from aggregator.insights.taxonomy import taxonomy
from providers.sandbox.data.catalog import account_plans
from providers.sandbox.data.labels import labelled_history, merchant_category_code, synthetic_plans

NOW = datetime(2024, 6, 30, tzinfo=UTC)


def test_every_label_is_a_category_of_the_taxonomy_and_streams_are_monthly():
    for plan in synthetic_plans(3):
        for _tx, label in labelled_history(plan, NOW):
            assert label.category_detailed in taxonomy()
            assert label.category_primary == taxonomy().get(label.category_detailed).primary
            assert bool(label.stream_id) == (label.frequency == "monthly")


def test_anomalies_are_injected_only_where_asked_and_labelled_by_kind():
    with_anomalies = Counter(
        label.anomaly for plan in synthetic_plans(3, anomaly_rate=0.5) for _, label in labelled_history(plan, NOW)
    )
    assert {"duplicate", "outlier", "new_payee", "card_testing"} <= set(with_anomalies)
    fixtures = [label.anomaly for plan in account_plans("albion", "alice") for _, label in labelled_history(plan, NOW)]
    assert set(fixtures) == {""}


def test_the_ordinary_content_is_the_same_with_or_without_anomalies():
    """A separate random stream: only the balance-driven moves (month-end sweeps, card repayments) may differ."""
    plain = synthetic_plans(3, anomaly_rate=0.0)[0]
    noisy = synthetic_plans(3, anomaly_rate=0.5)[0]
    steered = ("transfers", "credit_card_payment")
    a = [(t.booked_at, t.description, t.amount) for t, _ in labelled_history(plain, NOW) if t.category not in steered]
    b = [
        (t.booked_at, t.description, t.amount)
        for t, lab in labelled_history(noisy, NOW)
        if t.category not in steered and not lab.anomaly
    ]
    assert a == b


def test_card_payments_at_known_merchants_have_a_realistic_mcc_and_nothing_else_does():
    seen = Counter()
    for plan in synthetic_plans(3):
        for tx, _ in labelled_history(plan, NOW):
            mcc = merchant_category_code(tx)
            if tx.bank_transaction_code != "PMNT-CCRD-POSD":
                assert mcc == ""
            seen[(tx.merchant_name, mcc)] += 1
    assert seen[("Tesco", "5411")] and seen[("Uber", "4121")] and seen[("Shell", "5541")]


@pytest.mark.django_db
def test_sandbox_export_labels_prints_the_ground_truth():
    out = StringIO()
    call_command(
        "sandbox_export", "albion", "alice", "--labels", "--compact", "--as-of", "2024-06-30T00:00:00Z", stdout=out
    )
    doc = json.loads(out.getvalue())
    items = [t for a in doc["accounts"] for t in a["transactions"]]
    assert all(
        {"category_detailed", "counterparty_id", "stream_id", "anomaly", "merchant_category_code"} <= set(t["labels"])
        for t in items
    )
    salary = next(t for t in items if t["labels"]["category_detailed"] == "income.wages")
    assert salary["labels"]["counterparty_type"] == "employer" and salary["labels"]["frequency"] == "monthly"
    plain = StringIO()
    call_command("sandbox_export", "albion", "alice", "--compact", "--as-of", "2024-06-30T00:00:00Z", stdout=plain)
    assert '"labels"' not in plain.getvalue() and '"anomaly"' not in plain.getvalue()
