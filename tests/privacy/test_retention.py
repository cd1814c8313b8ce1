"""Retention: each kind of data goes once older than its period, in batches, and a second run deletes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from aggregator.models import Balance, Connection, SyncRun, Transaction
from aggregator.privacy.models import DataExport
from aggregator.privacy.retention import retention_delete_in_batches, retention_enforce
from aggregator.webhooks.models import WebhookDelivery, WebhookEvent
from consent.models import AccessLogEntry, Consent
from consent.services import consent_authorise, consent_revoke
from tests.factories import (
    AccessLogEntryFactory,
    AccountFactory,
    ApplicationFactory,
    BalanceFactory,
    ConnectionFactory,
    ConsentFactory,
    InstitutionFactory,
    SyncRunFactory,
    TransactionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _ended_consent_account(days_ago: int):  # type: ignore[no-untyped-def]
    account = AccountFactory()
    TransactionFactory.create_batch(3, account=account)
    BalanceFactory(account=account)
    consent = consent_authorise(consent=ConsentFactory(), user=account.connection.user, accounts=[account])
    consent_revoke(consent=consent, actor_type="user", actor_user=account.connection.user)
    Consent.objects.filter(pk=consent.pk).update(status_changed_at=NOW - dt.timedelta(days=days_ago))
    return account


def test_transactions_and_balances_of_a_consent_ended_past_the_period_are_deleted():
    old = _ended_consent_account(days_ago=91)

    deleted = retention_enforce(now=NOW)

    assert deleted["transactions"] == 3 and deleted["balances"] == 1
    assert not Transaction.objects.filter(account=old).exists() and not Balance.objects.filter(account=old).exists()


def test_transactions_of_a_consent_ended_within_the_period_are_kept():
    recent = _ended_consent_account(days_ago=89)

    retention_enforce(now=NOW)

    assert Transaction.objects.filter(account=recent).count() == 3


def test_transactions_of_an_account_another_consent_still_shares_are_kept():
    account = _ended_consent_account(days_ago=200)
    consent_authorise(consent=ConsentFactory(), user=account.connection.user, accounts=[account])

    retention_enforce(now=NOW)

    assert Transaction.objects.filter(account=account).count() == 3


def test_transactions_of_a_never_shared_account_stay_while_the_bank_is_connected():
    account = AccountFactory()
    TransactionFactory(account=account)

    retention_enforce(now=NOW)

    assert Transaction.objects.filter(account=account).exists()


def test_transactions_of_a_never_shared_account_go_once_its_bank_was_disconnected_past_the_period():
    account = AccountFactory()
    TransactionFactory(account=account)
    Connection.objects.filter(pk=account.connection_id).update(
        status="disconnected", updated_at=NOW - dt.timedelta(days=100)
    )

    retention_enforce(now=NOW)

    assert not Transaction.objects.filter(account=account).exists()


def test_access_log_rows_older_than_the_period_are_deleted_and_newer_ones_kept():
    old = AccessLogEntryFactory(at=NOW - dt.timedelta(days=396))
    new = AccessLogEntryFactory(at=NOW - dt.timedelta(days=394))

    retention_enforce(now=NOW)

    assert list(AccessLogEntry.objects.values_list("pk", flat=True)) == [new.pk]
    assert not AccessLogEntry.objects.filter(pk=old.pk).exists()


def test_finished_sync_runs_past_the_period_are_deleted_but_running_ones_are_not():
    finished = SyncRunFactory(outcome="succeeded")
    running = SyncRunFactory(outcome="running")
    SyncRun.objects.update(queued_at=NOW - dt.timedelta(days=91))

    retention_enforce(now=NOW)

    assert not SyncRun.objects.filter(pk=finished.pk).exists() and SyncRun.objects.filter(pk=running.pk).exists()


def test_final_webhook_deliveries_and_their_events_go_after_the_period_pending_ones_stay():
    app = ApplicationFactory(webhook_url="https://tpp.example/hook")
    done = WebhookEvent.objects.create(application=app, type="consent.revoked", payload={})
    WebhookDelivery.objects.create(event=done, url=app.webhook_url, status="succeeded")
    waiting = WebhookEvent.objects.create(application=app, type="consent.revoked", payload={})
    WebhookDelivery.objects.create(event=waiting, url=app.webhook_url, status="pending")
    WebhookEvent.objects.update(created_at=NOW - dt.timedelta(days=31))
    WebhookDelivery.objects.update(created_at=NOW - dt.timedelta(days=31))

    deleted = retention_enforce(now=NOW)

    assert (deleted["webhook_deliveries"], deleted["webhook_events"]) == (1, 1)
    assert list(WebhookEvent.objects.values_list("pk", flat=True)) == [waiting.pk]


def test_export_archives_past_the_period_are_deleted_with_their_file(settings, tmp_path):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "PRIVACY_EXPORT_DIR": str(tmp_path)}
    export = DataExport.objects.create(user=UserFactory(), requested_by="user", file_name="export-x.zip")
    (tmp_path / "export-x.zip").write_bytes(b"PK")
    DataExport.objects.filter(pk=export.pk).update(created_at=NOW - dt.timedelta(days=8))

    retention_enforce(now=NOW)

    assert not DataExport.objects.exists() and not (tmp_path / "export-x.zip").exists()


def test_periods_come_from_the_aggregator_settings(settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "RETENTION_ACCESS_LOG": dt.timedelta(days=1)}
    AccessLogEntryFactory(at=NOW - dt.timedelta(days=2))

    assert retention_enforce(now=NOW)["access_log"] == 1


def test_rows_are_deleted_in_batches_of_the_configured_size():
    AccessLogEntryFactory.create_batch(5, at=NOW - dt.timedelta(days=400))

    with CaptureQueriesContext(connection) as queries:
        deleted = retention_delete_in_batches(AccessLogEntry.objects.all(), batch=2)

    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert deleted == 5 and not AccessLogEntry.objects.exists()
    assert len(deletes) == 3  # 2 + 2 + 1 ids, each batch its own statement


def test_a_second_run_deletes_nothing_more():
    _ended_consent_account(days_ago=120)
    AccessLogEntryFactory(at=NOW - dt.timedelta(days=400))
    retention_enforce(now=NOW)

    assert not any(retention_enforce(now=NOW).values())


def test_a_periodic_task_runs_retention_every_hour_on_the_maintenance_queue(settings):
    task = PeriodicTask.objects.get(name="enforce data retention")
    assert task.task == "aggregator.privacy.tasks.retention_enforce_task" and task.enabled
    assert (task.interval.every, task.interval.period) == (1, "hours")
    assert settings.CELERY_TASK_ROUTES[task.task] == {"queue": "maintenance"}


def _ended_consent_at(country: str, *, years_ago: float) -> Consent:
    institution = InstitutionFactory(slug=f"bank-{country.lower()}", country=country)
    account = AccountFactory(connection=ConnectionFactory(institution=institution))
    consent = consent_authorise(consent=ConsentFactory(), user=account.connection.user, accounts=[account])
    consent_revoke(consent=consent, actor_type="user", actor_user=account.connection.user)
    Consent.objects.filter(pk=consent.pk).update(status_changed_at=NOW - dt.timedelta(days=round(365.25 * years_ago)))
    return consent


def test_the_evidence_of_a_us_consent_goes_three_years_after_it_ended_and_not_before():
    gone, kept = _ended_consent_at("US", years_ago=3.01), _ended_consent_at("US", years_ago=2.99)

    deleted = retention_enforce(now=NOW)

    assert deleted["consents"] == 1
    assert not Consent.objects.filter(pk=gone.pk).exists()
    assert Consent.objects.filter(pk=kept.pk).exists() and kept.events.exists()


def test_the_evidence_of_a_uk_consent_is_kept_five_years():
    kept, gone = _ended_consent_at("GB", years_ago=4.5), _ended_consent_at("GB", years_ago=5.01)

    retention_enforce(now=NOW)

    assert Consent.objects.filter(pk=kept.pk).exists()
    assert not Consent.objects.filter(pk=gone.pk).exists()


def test_a_live_consent_is_never_deleted_however_old():
    account = AccountFactory()
    consent = consent_authorise(consent=ConsentFactory(), user=account.connection.user, accounts=[account])
    Consent.objects.filter(pk=consent.pk).update(status_changed_at=NOW - dt.timedelta(days=3650))

    retention_enforce(now=NOW)

    assert Consent.objects.filter(pk=consent.pk).exists()


def test_enrichments_and_signals_of_a_transaction_no_longer_there_are_swept_and_a_payment_loses_only_its_link():
    from django.db import connection as db

    from aggregator.insights.models import RiskSignal, TransactionEnrichment
    from aggregator.privacy.retention import retention_orphans_sweep

    gone, kept = TransactionFactory(), TransactionFactory()
    for txn in (gone, kept):
        TransactionEnrichment.objects.create(
            transaction=txn,
            category_primary="FOOD_AND_DRINK",
            category_detailed="FOOD_AND_DRINK_GROCERIES",
            confidence="low",
            source="rule",
            probability=0.5,
            taxonomy_version="t",
            updated_at=NOW,
        )
        RiskSignal.objects.create(
            account=txn.account, transaction=txn, kind="duplicate", score=0.9, reason="r", detected_at=NOW
        )
    # A raced write: the rows outlived their transaction (no database foreign key into the partitioned table).
    with db.cursor() as cursor:
        cursor.execute("DELETE FROM aggregator_transaction WHERE id = %s", [gone.pk])

    swept = retention_orphans_sweep()

    assert swept["orphan_enrichments"] == 1 and swept["orphan_risk_signals"] == 1
    assert list(TransactionEnrichment.objects.values_list("transaction_id", flat=True)) == [kept.pk]
    assert list(RiskSignal.objects.values_list("transaction_id", flat=True)) == [kept.pk]
    assert retention_orphans_sweep() == {"orphan_enrichments": 0, "orphan_risk_signals": 0, "orphan_payment_links": 0}
