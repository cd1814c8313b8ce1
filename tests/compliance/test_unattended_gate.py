"""The compliance clocks stop unattended syncs: the scheduler skips a connection whose EU SCA lapsed or whose
every consent awaits its UK reconfirmation; the engine refuses an unattended run of it; a present user is never
stopped."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from aggregator.compliance.clock import compliance_now
from aggregator.models import Connection, SyncRun
from aggregator.sync.dispatch import connections_dispatch_due
from aggregator.sync.services import connection_sync
from consent.reconfirmation import consent_reconfirm
from tests.aggregator.sync_fakes import fake_bank, make_connection  # noqa: F401  (fixtures)
from tests.factories import AccountFactory

from .conftest import authorised

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def enqueued():  # type: ignore[no-untyped-def]
    sent: list[int] = []
    with mock.patch(
        "aggregator.sync.services.enqueue_connection_sync",
        side_effect=lambda *, sync_run_id, countdown=0, **_: sent.append(sync_run_id),
    ):
        yield sent


def _connection_in(country: str, **fields):  # type: ignore[no-untyped-def]
    connection = make_connection(next_sync_at=timezone.now() - dt.timedelta(minutes=1), **fields)
    connection.institution.country = country
    connection.institution.save(update_fields=["country"])
    AccountFactory(connection=connection)
    return connection


def _dispatched(connection: Connection) -> bool:
    connections_dispatch_due(now=timezone.now())
    return SyncRun.objects.filter(connection=connection, trigger=SyncRun.Trigger.SCHEDULED).exists()


def test_an_eu_connection_is_dispatched_on_day_179(days, fake_bank, enqueued):  # noqa: F811
    connection = _connection_in("DE", last_sca_at=compliance_now())
    days(179)
    assert _dispatched(connection)


def test_an_eu_connection_is_not_dispatched_on_day_180_and_is_paused(days, fake_bank, enqueued):  # noqa: F811
    connection = _connection_in("DE", last_sca_at=compliance_now())
    days(180)
    assert not _dispatched(connection)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.REAUTH_REQUIRED and enqueued == []


def test_a_uk_connection_serving_only_unreconfirmed_consents_is_not_dispatched(days, fake_bank, enqueued):  # noqa: F811
    connection = _connection_in("GB")
    authorised(connection.user, connection.accounts.get())
    days(90)
    assert not _dispatched(connection)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE  # the bank-side consent is untouched


def test_a_uk_connection_is_dispatched_again_once_the_user_reconfirms(days, fake_bank, enqueued):  # noqa: F811
    connection = _connection_in("GB")
    consent = authorised(connection.user, connection.accounts.get())
    days(91)
    assert not _dispatched(connection)
    consent_reconfirm(consent=consent, user=connection.user)
    Connection.objects.filter(pk=connection.pk).update(next_sync_at=timezone.now() - dt.timedelta(minutes=1))
    assert _dispatched(connection)


def test_a_uk_connection_with_one_consent_still_in_force_is_dispatched(days, fake_bank, enqueued):  # noqa: F811
    connection = _connection_in("GB")
    authorised(connection.user, connection.accounts.get())
    days(60)
    authorised(connection.user, connection.accounts.get())
    days(31)
    assert _dispatched(connection)


def test_the_engine_refuses_an_unattended_run_after_day_180(days, fake_bank):  # noqa: F811
    connection = _connection_in("DE", last_sca_at=compliance_now())
    days(180)
    run = connection_sync(connection=connection, trigger=SyncRun.Trigger.SCHEDULED)
    assert run.outcome == SyncRun.Outcome.SKIPPED and run.error_code == "compliance_clock"


def test_a_sync_the_user_asked_for_in_person_is_not_stopped_by_the_uk_clock(days, fake_bank):  # noqa: F811
    connection = _connection_in("GB")
    authorised(connection.user, connection.accounts.get())
    days(91)
    run = connection_sync(connection=connection, trigger=SyncRun.Trigger.MANUAL, psu_ip_address="203.0.113.7")
    assert run.outcome == SyncRun.Outcome.SUCCEEDED
