"""The insights services over stored transactions: bulk enrichment, streams, signals, events, corrections."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from unittest import mock

import pytest

from aggregator.domain_events import DomainEvent, publish
from aggregator.exceptions import InvalidInputError
from aggregator.insights.models import CategoryCorrection, RecurringStream, RiskSignal, TransactionEnrichment
from aggregator.insights.services import insights_category_correct, insights_refresh_accounts
from aggregator.models import Transaction
from tests.insights.conftest import SMALL_NOW
from tests.insights.conftest import store_history as _store_history

pytestmark = pytest.mark.django_db


def test_refresh_enriches_every_transaction_in_bulk_and_finds_streams_and_signals(model_file, published_events):
    account, labels = _store_history()
    result = insights_refresh_accounts(account_ids=[account.pk], today=SMALL_NOW.date())
    assert result.enriched == len(labels)
    rows = TransactionEnrichment.objects.filter(transaction__account=account).select_related("transaction")
    right = [labels[r.transaction.provider_transaction_id].category_detailed == r.category_detailed for r in rows]
    assert sum(right) / len(right) > 0.90  # a small model (one seed, five months) on an unseen user
    streams = RecurringStream.objects.filter(account=account)
    assert {"income.wages", "rent_and_utilities.rent"} <= {s.category_detailed for s in streams}
    provider_id = dict(Transaction.objects.filter(account=account).values_list("public_id", "provider_transaction_id"))
    for s in streams:  # each stream has the frequency the generator scheduled
        truth = {labels[provider_id[uuid.UUID(t)]].frequency for t in s.transaction_ids}
        assert truth == {s.frequency}, (s.description, s.frequency, truth)
    kinds = set(RiskSignal.objects.filter(account=account).values_list("kind", flat=True))
    assert {"balance_risk", "income_stability"} <= kinds
    assert kinds & {"duplicate_charge", "card_testing", "amount_outlier", "new_payee"}
    names = [e.name for e in published_events]
    assert "recurring.updated" in names and "risk_signal.detected" in names


def test_a_second_refresh_changes_nothing_and_publishes_nothing(model_file, published_events):
    account, _ = _store_history()
    insights_refresh_accounts(account_ids=[account.pk], today=SMALL_NOW.date())
    published_events.clear()
    again = insights_refresh_accounts(account_ids=[account.pk], today=SMALL_NOW.date())
    assert again.enriched == 0 and published_events == []


def test_a_changed_transaction_is_enriched_again(model_file):
    account, _ = _store_history()
    insights_refresh_accounts(account_ids=[account.pk], today=SMALL_NOW.date())
    tx = Transaction.objects.filter(account=account, merchant_category_code="5411").first()
    Transaction.objects.filter(pk=tx.pk).update(
        description="SHELL 1234 LONDON",
        merchant_name="Shell",
        merchant_category_code="5541",
        updated_at=tx.updated_at + timedelta(seconds=5),
    )
    assert insights_refresh_accounts(account_ids=[account.pk], today=SMALL_NOW.date()).enriched == 1
    assert TransactionEnrichment.objects.get(transaction=tx).category_detailed == "transportation.gas"


def test_a_new_model_version_re_enriches_everything(model_file, small_model):
    account, labels = _store_history()
    insights_refresh_accounts(account_ids=[account.pk], today=SMALL_NOW.date())
    TransactionEnrichment.objects.filter(transaction__account=account).update(model_version="older")
    assert insights_refresh_accounts(account_ids=[account.pk], today=SMALL_NOW.date()).enriched == len(labels)


def test_streams_are_tombstoned_when_the_clock_passes_a_missed_payment(model_file, published_events):
    account, _ = _store_history()
    insights_refresh_accounts(account_ids=[account.pk], today=SMALL_NOW.date())
    assert not RecurringStream.objects.filter(account=account, status="tombstoned").exists()
    published_events.clear()
    insights_refresh_accounts(account_ids=[account.pk], force=True, today=SMALL_NOW.date() + timedelta(days=60))
    statuses = set(RecurringStream.objects.filter(account=account).values_list("status", flat=True))
    assert statuses == {"tombstoned"}
    assert [e.name for e in published_events].count("recurring.updated") == 1


def test_a_correction_overrides_the_category_of_that_counterparty_for_that_user_only(model_file):
    account, _ = _store_history()
    other, _ = _store_history(seed=4711)  # the same data for another user
    insights_refresh_accounts(account_ids=[account.pk, other.pk], today=SMALL_NOW.date())
    tx = Transaction.objects.filter(account=account, merchant_category_code="5411").first()
    cp = insights_category_correct(
        transaction_obj=tx, category_detailed="general_merchandise.superstores", user_id=account.connection.user_id
    )
    mine = TransactionEnrichment.objects.filter(transaction__account=account, counterparty=cp)
    theirs = TransactionEnrichment.objects.filter(transaction__account=other, counterparty=cp)
    assert mine.count() > 1
    assert set(mine.values_list("category_detailed", "source", "confidence")) == {
        ("general_merchandise.superstores", "user", "very_high")
    }
    assert "general_merchandise.superstores" not in set(theirs.values_list("category_detailed", flat=True))
    assert CategoryCorrection.objects.filter(user=account.connection.user, counterparty=cp).count() == 1
    # it sticks: a forced re-enrichment keeps the user's label
    insights_refresh_accounts(account_ids=[account.pk], force=True, today=SMALL_NOW.date())
    assert set(mine.values_list("source", flat=True)) == {"user"}


def test_an_unknown_category_is_refused(model_file):
    account, _ = _store_history()
    insights_refresh_accounts(account_ids=[account.pk], today=SMALL_NOW.date())
    tx = Transaction.objects.filter(account=account).first()
    with pytest.raises(InvalidInputError) as err:
        insights_category_correct(transaction_obj=tx, category_detailed="food", user_id=account.connection.user_id)
    assert err.value.code == "category_unknown"


def test_a_completed_sync_enqueues_enrichment_after_commit(django_capture_on_commit_callbacks):
    with (
        mock.patch("aggregator.insights.subscribers.current_app.send_task") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        publish(
            DomainEvent(
                name="sync.completed",
                subject_type="sync_run",
                subject_id="x",
                data={"connection_id": "c1", "outcome": "succeeded", "counts": {"added": 3}},
            )
        )
        publish(
            DomainEvent(
                name="sync.completed",
                subject_type="sync_run",
                subject_id="y",
                data={"connection_id": "c2", "outcome": "succeeded", "counts": {"added": 0}},
            )
        )
    send.assert_called_once_with("insights.enrich_connection", kwargs={"connection_id": "c1"})


def test_without_a_model_file_rules_and_mccs_still_label(settings, tmp_path):
    settings.INSIGHTS = {"MODEL_PATH": str(tmp_path / "none.joblib")}
    account, _ = _store_history()
    insights_refresh_accounts(account_ids=[account.pk], today=date(2024, 5, 31))
    sources = set(TransactionEnrichment.objects.filter(transaction__account=account).values_list("source", flat=True))
    assert sources <= {"rule", "mcc", "model"} and "mcc" in sources


def _sandbox_clock_at(moment) -> None:  # type: ignore[no-untyped-def]
    from django.utils import timezone

    from providers.sandbox.clock import clock_set_offset

    clock_set_offset(int((moment - timezone.now()).total_seconds()))


def test_streams_are_judged_on_the_sandbox_clock_not_real_time(model_file):
    _sandbox_clock_at(SMALL_NOW)
    account, _ = _store_history()
    insights_refresh_accounts(account_ids=[account.pk])
    statuses = set(RecurringStream.objects.filter(account=account).values_list("status", flat=True))
    assert statuses and "tombstoned" not in statuses


def test_advancing_the_sandbox_clock_past_a_missed_payment_tombstones_the_stream(model_file, published_events):
    from aggregator.insights.services import insights_streams_review
    from providers.sandbox.clock import clock_advance

    _sandbox_clock_at(SMALL_NOW)
    account, _ = _store_history()
    insights_refresh_accounts(account_ids=[account.pk])
    published_events.clear()
    clock_advance(45 * 86_400)
    assert insights_streams_review() == 1
    streams = RecurringStream.objects.filter(account=account)
    assert {s.status for s in streams} == {"tombstoned"} and not any(s.is_active for s in streams)
    assert [e.name for e in published_events].count("recurring.updated") == 1


def test_the_review_leaves_streams_whose_next_payment_is_not_yet_missed(model_file, published_events):
    from aggregator.insights.services import insights_streams_review
    from providers.sandbox.clock import clock_advance

    _sandbox_clock_at(SMALL_NOW)
    account, _ = _store_history()
    insights_refresh_accounts(account_ids=[account.pk])
    published_events.clear()
    clock_advance(86_400)
    assert insights_streams_review() == 0
    assert published_events == []
    assert not RecurringStream.objects.filter(account=account, status="tombstoned").exists()


def test_the_stream_review_runs_every_hour_from_beat():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="insights.review_streams")
    assert task.enabled and (task.interval.every, task.interval.period) == (1, "hours")


def test_signals_about_old_transactions_are_stored_but_not_announced(model_file, published_events, settings):
    settings.INSIGHTS = {**settings.INSIGHTS, "WEBHOOK_MAX_AGE_DAYS": 0}
    account, _ = _store_history()
    insights_refresh_accounts(account_ids=[account.pk], today=SMALL_NOW.date() + timedelta(days=1))
    assert RiskSignal.objects.filter(account=account, transaction__isnull=False, score__gte=0.8).exists()
    assert "risk_signal.detected" not in [e.name for e in published_events]


def test_a_model_trained_on_other_features_is_not_used(small_model, tmp_path, settings):
    import dataclasses

    from aggregator.insights.model import save_model
    from aggregator.insights.services import current_model

    path = tmp_path / "old.joblib"
    save_model(dataclasses.replace(small_model, features_version=""), path)
    settings.INSIGHTS = {"MODEL_PATH": str(path)}
    assert current_model() is None
