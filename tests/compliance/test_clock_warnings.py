"""Warnings ahead of the deadlines: webhooks ``consent.reconfirmation_due`` (T-14, T-3) and
``connection.reauth_due``, and an email to the user with the link, each sent once however often the task runs."""

from __future__ import annotations

import pytest

from aggregator.compliance.clock import compliance_now
from aggregator.models import Connection
from aggregator.webhooks.models import WebhookEvent
from consent.clock_warnings import clock_warnings_send
from consent.models import ClockWarning
from consent.reconfirmation import consent_reconfirm
from consent.tasks import compliance_clocks_task

from .conftest import account_at, authorised

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_delivery(monkeypatch):  # type: ignore[no-untyped-def]
    """Webhook events are recorded; their HTTP delivery is not part of these tests."""
    monkeypatch.setattr("aggregator.webhooks.services._enqueue", lambda delivery_id: None)


@pytest.fixture
def run(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """One run of the periodic task, its after-commit work (webhook fan-out, emails) done."""

    def once():  # type: ignore[no-untyped-def]
        with django_capture_on_commit_callbacks(execute=True):
            return compliance_clocks_task()

    return once


def _uk_consent(user, uk_bank):  # type: ignore[no-untyped-def]
    consent = authorised(user, account_at(uk_bank, user))
    consent.application.webhook_url = "https://tpp.example/hooks"
    consent.application.save()
    return consent


def _events(type_: str) -> list[WebhookEvent]:
    return list(WebhookEvent.objects.filter(type=type_).order_by("created_at"))


def test_nothing_is_sent_more_than_14_days_ahead(days, run, user, uk_bank, mailoutbox):
    _uk_consent(user, uk_bank)
    days(75)
    run()
    assert _events("consent.reconfirmation_due") == [] and mailoutbox == []


def test_at_t_minus_14_the_tpp_gets_a_webhook_and_the_user_an_email_with_the_link(days, run, user, uk_bank, mailoutbox):
    consent = _uk_consent(user, uk_bank)
    days(77)
    run()
    (event,) = _events("consent.reconfirmation_due")
    assert event.application == consent.application
    assert event.payload["consent_id"] == str(consent.pk)
    assert event.payload["stage"] == "T-14" and event.payload["days_left"] == 12
    assert event.payload["reconfirm_by"] == consent.reconfirm_by.isoformat()
    (mail,) = mailoutbox
    assert mail.to == [user.email]
    assert f"/me/consents/reconfirm/?consent={consent.pk}" in mail.body


def test_a_second_run_sends_nothing_twice(days, run, user, uk_bank, mailoutbox):
    _uk_consent(user, uk_bank)
    days(77)
    run()
    run()
    assert len(_events("consent.reconfirmation_due")) == 1 and len(mailoutbox) == 1


def test_at_t_minus_3_a_second_warning_goes_out_once(days, run, user, uk_bank, mailoutbox):
    _uk_consent(user, uk_bank)
    days(77)
    run()
    days(11)
    run()
    run()
    assert [e.payload["stage"] for e in _events("consent.reconfirmation_due")] == ["T-14", "T-3"]
    assert len(mailoutbox) == 2


def test_a_reconfirmation_starts_a_new_deadline_with_its_own_warnings(days, run, user, uk_bank):
    consent = _uk_consent(user, uk_bank)
    days(77)
    run()
    consent_reconfirm(consent=consent, user=user)
    days(77)
    run()
    assert len(_events("consent.reconfirmation_due")) == 2
    assert ClockWarning.objects.filter(subject_id=str(consent.pk)).values("due_at").distinct().count() == 2


def test_an_eu_connection_gets_connection_reauth_due_before_day_180(days, run, user, eu_bank, mailoutbox):
    account = account_at(eu_bank, user, last_sca_at=compliance_now())
    consent = authorised(user, account)
    consent.application.webhook_url = "https://tpp.example/hooks"
    consent.application.save()
    days(170)
    run()
    run()
    (event,) = _events("connection.reauth_due")
    assert event.payload["connection_id"] == str(account.connection.public_id)
    assert event.payload["accounts"] == [str(account.public_id)]
    assert event.payload["stage"] == "T-14" and event.payload["institution"] == "rhein-test"
    (mail,) = mailoutbox
    assert "Rhein Bank" in mail.subject and "/connect/rhein-test/start/" in mail.body


def test_on_day_180_the_task_pauses_the_eu_connection(days, user, eu_bank):
    connection = account_at(eu_bank, user, last_sca_at=compliance_now()).connection
    days(180)
    assert clock_warnings_send()["sca_expired"] == 1
    connection.refresh_from_db()
    assert connection.status == Connection.Status.REAUTH_REQUIRED
    assert clock_warnings_send()["sca_expired"] == 0


def test_the_periodic_task_is_scheduled_by_a_migration():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="compliance clocks")
    assert task.task == "consent.tasks.compliance_clocks_task" and task.enabled
