"""The sandbox generator's ground truth: labels, MCCs the banks send, injected anomalies, sandbox_export --labels."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from aggregator.insights.recurring import FREQUENCIES
from aggregator.insights.taxonomy import taxonomy
from providers.sandbox.data.catalog import account_plans
from providers.sandbox.data.labels import labelled_history, merchant_category_code, synthetic_plans

NOW = datetime(2024, 6, 30, tzinfo=UTC)


def test_every_label_is_a_category_of_the_taxonomy_and_every_stream_has_a_frequency():
    for plan in synthetic_plans(3):
        for _tx, label in labelled_history(plan, NOW):
            assert label.category_detailed in taxonomy()
            assert label.category_primary == taxonomy().get(label.category_detailed).primary
            assert bool(label.stream_id) == (label.frequency in FREQUENCIES)


def test_generated_users_have_streams_of_every_frequency_inflow_and_outflow():
    later = datetime(2025, 6, 30, tzinfo=UTC)
    seen = {
        (label.frequency, "in" if tx.amount > 0 else "out")
        for seed in (1, 2, 3)
        for plan in synthetic_plans(seed)
        for tx, label in labelled_history(plan, later)
        if label.stream_id
    }
    assert seen == {(f, d) for f in FREQUENCIES for d in ("in", "out")}


def test_scheduled_streams_fall_on_their_true_frequency():
    history = [(tx, lab) for plan in synthetic_plans(1) for tx, lab in labelled_history(plan, NOW)]
    for frequency, gaps in (("weekly", {7}), ("biweekly", {14})):
        dates: dict[str, list] = {}
        for tx, lab in history:
            if lab.frequency == frequency:
                dates.setdefault(lab.stream_id, []).append(tx.booking_date)
        assert dates, frequency
        for days in dates.values():
            assert {(b - a).days for a, b in itertools.pairwise(days)} == gaps


def test_the_fixtures_users_get_no_scheduled_streams():
    frequencies = {lab.frequency for plan in account_plans("albion", "alice") for _, lab in labelled_history(plan, NOW)}
    assert frequencies <= {"", "monthly"}


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
