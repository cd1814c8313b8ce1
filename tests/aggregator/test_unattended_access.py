"""The regulatory limit of unattended access (RTS Art. 36(5)) in the scheduler and the sync engine, on the
sandbox clock: 4 reads per account per 24 hours for each data type at UK and EU banks, none at US ones."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aggregator.compliance.clock import compliance_now
from aggregator.models import Connection, SyncRun, UnattendedAccess
from aggregator.sync.dispatch import connections_dispatch_due
from aggregator.sync.services import connection_sync
from aggregator.sync.unattended import WINDOW, unattended_budget, unattended_due_at, unattended_reserve
from providers.sandbox.clock import clock_advance, clock_reset
from tests.aggregator.sync_fakes import fake_bank, make_connection, txn  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

SCHEDULED = SyncRun.Trigger.SCHEDULED


@pytest.fixture(autouse=True)
def _sandbox_clock(settings):  # type: ignore[no-untyped-def]
    # The scheduler may spend all 4 here (none kept for third parties' refreshes), except where a test says.
    settings.AGGREGATOR = {**settings.AGGREGATOR, "COMPLIANCE_CLOCK": "sandbox", "UNATTENDED_KEEP_FOR_REFRESH": 0}
    clock_reset()
    yield
    clock_reset()


@pytest.fixture
def uk_connection(fake_bank):  # type: ignore[no-untyped-def]  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.put(txn("t1", day=1))
    return make_connection("fake_window")  # the factory's institution is in GB: the UK regime


def _calls(fake_bank, method: str) -> int:  # type: ignore[no-untyped-def]  # noqa: F811
    return sum(1 for call in fake_bank.calls if call[0] == method)


def _spend_all(connection, data_type: str, times: int = 4) -> None:  # type: ignore[no-untyped-def]
    """``times`` earlier unattended reads of ``data_type`` of every account, a minute apart, ending a minute ago."""
    now = compliance_now()
    for account in connection.accounts.all():
        for n in range(times):
            UnattendedAccess.objects.create(
                account=account, data_type=data_type, accessed_at=now - dt.timedelta(minutes=times - n)
            )


def test_four_scheduled_syncs_read_the_bank_and_the_fifth_is_skipped_before_calling_it(uk_connection, fake_bank):  # noqa: F811
    for _ in range(4):
        assert connection_sync(connection=uk_connection, trigger=SCHEDULED).outcome == "succeeded"
    calls_before = len(fake_bank.calls)
    run = connection_sync(connection=uk_connection, trigger=SCHEDULED)
    assert (run.outcome, run.error_code) == ("skipped", "unattended_limit")
    assert len(fake_bank.calls) == calls_before
    assert _calls(fake_bank, "get_balances") == 4


def test_each_sync_counts_one_access_per_account_and_data_type(uk_connection, fake_bank):  # noqa: F811
    fake_bank.add_account("acc-2")
    connection_sync(connection=uk_connection, trigger=SCHEDULED)  # first listing: learns of both accounts
    connection_sync(connection=uk_connection, trigger=SCHEDULED)
    counts = {
        (a.provider_account_id, t): UnattendedAccess.objects.filter(account=a, data_type=t).count()
        for a in uk_connection.accounts.all()
        for t in ("accounts", "balances", "transactions")
    }
    assert set(counts.values()) == {2}
    budgets = unattended_budget(connections=[uk_connection])
    assert {t: (b.limit, b.remaining) for t, b in budgets.items()} == {
        "accounts": (4, 2),
        "balances": (4, 2),
        "transactions": (4, 2),
    }


def test_a_scheduled_sync_reads_only_the_data_types_that_have_budget_left(uk_connection, fake_bank):  # noqa: F811
    connection_sync(connection=uk_connection, trigger=SCHEDULED)
    _spend_all(uk_connection, "balances", times=3)  # 1 + 3 = the 4 of the day
    fake_bank.calls.clear()
    fake_bank.put(txn("t2", day=2))
    run = connection_sync(connection=uk_connection, trigger=SCHEDULED)
    assert run.outcome == "succeeded" and run.added_count == 1
    assert _calls(fake_bank, "get_balances") == 0
    assert _calls(fake_bank, "window") == 1 and _calls(fake_bank, "list_accounts") == 1


def test_each_account_is_decided_on_its_own_and_a_data_type_is_spent_for_all_of_them_at_once(uk_connection, fake_bank):  # noqa: F811
    fake_bank.add_account("acc-2")
    connection_sync(connection=uk_connection, trigger=SCHEDULED)  # first listing: learns of both accounts
    full = uk_connection.accounts.get(provider_account_id="acc-1")
    now = compliance_now()
    for n in range(3):  # acc-1's balances: 1 + 3 = the 4 of the day; acc-2's have 3 left
        UnattendedAccess.objects.create(
            account=full, data_type="balances", accessed_at=now - dt.timedelta(minutes=n + 1)
        )
    fake_bank.calls.clear()
    with CaptureQueriesContext(db) as captured:
        run = connection_sync(connection=uk_connection, trigger=SCHEDULED)
    assert run.outcome == "succeeded"
    assert _calls(fake_bank, "get_balances") == 1 and _calls(fake_bank, "window") == 2
    spent = UnattendedAccess.objects.filter(sync_run=run).values_list("data_type", "account__provider_account_id")
    assert sorted(spent) == [
        ("accounts", "acc-1"),
        ("accounts", "acc-2"),
        ("balances", "acc-2"),
        ("transactions", "acc-1"),
        ("transactions", "acc-2"),
    ]
    inserts = [q for q in captured.captured_queries if q["sql"].startswith('INSERT INTO "aggregator_unattendedaccess"')]
    assert len(inserts) == 3  # one statement a data type, whatever the number of accounts


def test_when_account_details_are_spent_the_stored_accounts_are_read_without_listing_them(uk_connection, fake_bank):  # noqa: F811
    connection_sync(connection=uk_connection, trigger=SCHEDULED)
    _spend_all(uk_connection, "accounts", times=3)
    fake_bank.calls.clear()
    run = connection_sync(connection=uk_connection, trigger=SCHEDULED)
    assert run.outcome == "succeeded" and run.accounts_count == 1
    assert _calls(fake_bank, "list_accounts") == 0
    assert _calls(fake_bank, "get_balances") == 1 and _calls(fake_bank, "window") == 1


def test_a_skipped_data_type_is_read_once_the_window_frees_it_on_the_sandbox_clock(uk_connection, fake_bank):  # noqa: F811
    connection_sync(connection=uk_connection, trigger=SCHEDULED)
    _spend_all(uk_connection, "transactions", times=3)
    fake_bank.put(txn("t2", day=2))
    assert connection_sync(connection=uk_connection, trigger=SCHEDULED).added_count == 0  # transactions skipped
    clock_advance(int(WINDOW.total_seconds()) + 60)  # the first read leaves the window
    fake_bank.calls.clear()
    run = connection_sync(connection=uk_connection, trigger=SCHEDULED)
    assert run.outcome == "succeeded" and run.added_count == 1
    assert _calls(fake_bank, "window") == 1


def test_the_window_is_rolling_one_slot_frees_24_hours_after_each_read(uk_connection):
    for hour in range(4):  # reads at t0, t0+1h, t0+2h, t0+3h
        if hour:
            clock_advance(3600)
        assert connection_sync(connection=uk_connection, trigger=SCHEDULED).outcome == "succeeded"
    clock_advance(20 * 3600)  # t0+23h
    assert connection_sync(connection=uk_connection, trigger=SCHEDULED).error_code == "unattended_limit"
    clock_advance(3600 + 120)  # t0+24h+2m: the read of t0 has left the window, the one of t0+1h has not
    assert connection_sync(connection=uk_connection, trigger=SCHEDULED).outcome == "succeeded"
    assert connection_sync(connection=uk_connection, trigger=SCHEDULED).error_code == "unattended_limit"


def test_a_sync_with_the_user_present_is_neither_counted_nor_capped(uk_connection, fake_bank):  # noqa: F811
    for _ in range(6):
        run = connection_sync(connection=uk_connection, trigger=SyncRun.Trigger.MANUAL, psu_ip_address="203.0.113.9")
        assert run.outcome == "succeeded"
    assert _calls(fake_bank, "get_balances") == 6
    assert not UnattendedAccess.objects.exists()


def test_an_operator_sync_without_the_user_is_counted_but_never_refused(uk_connection):
    for _ in range(5):
        assert connection_sync(connection=uk_connection, trigger=SyncRun.Trigger.MANUAL).outcome == "succeeded"
    assert UnattendedAccess.objects.filter(data_type="balances").count() == 5
    assert connection_sync(connection=uk_connection, trigger=SCHEDULED).error_code == "unattended_limit"


def test_a_retried_run_does_not_spend_its_accesses_again(uk_connection):
    run = SyncRun.objects.create(connection=uk_connection, trigger=SCHEDULED)
    connection_sync(connection=uk_connection, sync_run=run)
    connection_sync(connection=uk_connection, sync_run=run)
    assert UnattendedAccess.objects.filter(data_type="balances", sync_run=run).count() == 1


def test_a_refresh_that_ends_before_reading_anything_gives_its_reserved_reads_back(uk_connection):
    connection_sync(connection=uk_connection, trigger=SyncRun.Trigger.MANUAL)  # learns of the account
    run = SyncRun.objects.create(connection=uk_connection, trigger=SyncRun.Trigger.API, data_types=["balances"])
    unattended_reserve(runs=[run], data_types=["balances"])
    assert UnattendedAccess.objects.filter(sync_run=run).count() == 1
    Connection.objects.filter(pk=uk_connection.pk).update(status=Connection.Status.REAUTH_REQUIRED)
    assert connection_sync(connection=uk_connection, sync_run=run).outcome == "skipped"
    assert not UnattendedAccess.objects.filter(sync_run=run).exists()


def test_a_refresh_reads_only_the_data_types_it_reserved(uk_connection, fake_bank):  # noqa: F811
    connection_sync(connection=uk_connection, trigger=SyncRun.Trigger.MANUAL)
    fake_bank.calls.clear()
    run = SyncRun.objects.create(connection=uk_connection, trigger=SyncRun.Trigger.API, data_types=["balances"])
    unattended_reserve(runs=[run], data_types=["balances"])
    assert connection_sync(connection=uk_connection, sync_run=run).outcome == "succeeded"
    assert [call[0] for call in fake_bank.calls] == ["get_balances"]
    assert UnattendedAccess.objects.filter(sync_run=run).count() == 1


def test_a_us_bank_is_not_capped(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    connection = make_connection("fake_window")
    connection.institution.country = "US"
    connection.institution.save(update_fields=["country"])
    for _ in range(6):
        assert connection_sync(connection=connection, trigger=SCHEDULED).outcome == "succeeded"
    assert _calls(fake_bank, "get_balances") == 6
    assert not UnattendedAccess.objects.exists()
    assert unattended_budget(connections=[connection])["balances"].limit is None


def test_an_eu_bank_is_capped_like_a_uk_one(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    connection = make_connection("fake_window")
    connection.institution.country = "DE"
    connection.institution.save(update_fields=["country"])
    _ = [connection_sync(connection=connection, trigger=SCHEDULED) for _ in range(4)]
    assert connection_sync(connection=connection, trigger=SCHEDULED).error_code == "unattended_limit"


# --- the scheduler --------------------------------------------------------------------------------------------


@pytest.fixture
def enqueued():  # type: ignore[no-untyped-def]
    sent: list[int] = []
    with mock.patch(
        "aggregator.sync.services.enqueue_connection_sync",
        side_effect=lambda *, sync_run_id, countdown=0, **_: sent.append(sync_run_id),
    ):
        yield sent


def test_the_scheduler_does_not_queue_a_connection_whose_every_data_type_is_spent(uk_connection, enqueued):
    connection_sync(connection=uk_connection, trigger=SCHEDULED)
    for data_type in ("accounts", "balances", "transactions"):
        _spend_all(uk_connection, data_type, times=3)
    now = timezone.now()
    uk_connection.next_sync_at = now
    uk_connection.save(update_fields=["next_sync_at"])
    assert connections_dispatch_due(now=now) == []
    uk_connection.refresh_from_db()
    # The oldest of the day's reads (3 minutes ago) frees its slots 24 h + margin after it.
    assert now + WINDOW - dt.timedelta(minutes=4) < uk_connection.next_sync_at <= now + WINDOW - dt.timedelta(minutes=2)
    assert not SyncRun.objects.filter(outcome="queued").exists()


def test_the_scheduler_queues_a_connection_while_one_data_type_has_budget(uk_connection, enqueued):
    connection_sync(connection=uk_connection, trigger=SCHEDULED)
    _spend_all(uk_connection, "balances", times=3)
    _spend_all(uk_connection, "accounts", times=3)
    now = timezone.now()
    uk_connection.next_sync_at = now
    uk_connection.save(update_fields=["next_sync_at"])
    assert len(connections_dispatch_due(now=now)) == 1
    assert unattended_due_at(connection=uk_connection, now=now) == now


def test_the_scheduler_plans_on_the_real_clock_what_frees_on_the_sandbox_clock(uk_connection):
    connection_sync(connection=uk_connection, trigger=SCHEDULED)
    for data_type in ("accounts", "balances", "transactions"):
        _spend_all(uk_connection, data_type, times=3)
    clock_advance(20 * 3600)  # the sandbox is 20 h ahead: the oldest read frees in about 4 h of real time
    now = timezone.now()
    due = unattended_due_at(connection=uk_connection, now=now)
    assert dt.timedelta(hours=4, minutes=-3) < due - now <= dt.timedelta(hours=4, minutes=-1)


def test_by_default_the_scheduler_leaves_one_read_a_day_to_third_party_refreshes(uk_connection, settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "UNATTENDED_KEEP_FOR_REFRESH": 1}
    for _ in range(3):
        assert connection_sync(connection=uk_connection, trigger=SCHEDULED).outcome == "succeeded"
    assert connection_sync(connection=uk_connection, trigger=SCHEDULED).error_code == "unattended_limit"
    assert connection_sync(connection=uk_connection, trigger=SyncRun.Trigger.API).outcome == "succeeded"
    assert connection_sync(connection=uk_connection, trigger=SyncRun.Trigger.API).error_code == "unattended_limit"


def test_scheduled_syncs_of_a_capped_bank_are_spread_over_the_day(uk_connection, settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "UNATTENDED_KEEP_FOR_REFRESH": 1}
    before = timezone.now()
    connection_sync(connection=uk_connection, trigger=SCHEDULED)
    uk_connection.refresh_from_db()
    assert before + dt.timedelta(hours=8, minutes=1) <= uk_connection.next_sync_at  # 24 h / 3 + margin
    assert uk_connection.next_sync_at <= timezone.now() + dt.timedelta(hours=8, minutes=1)


def test_scheduled_syncs_of_a_us_bank_keep_the_configured_interval(fake_bank, settings):  # noqa: F811
    settings.AGGREGATOR = {**settings.AGGREGATOR, "SYNC_INTERVAL": dt.timedelta(hours=1)}
    fake_bank.add_account("acc-1")
    connection = make_connection("fake_window")
    connection.institution.country = "US"
    connection.institution.save(update_fields=["country"])
    connection_sync(connection=connection, trigger=SCHEDULED)
    connection.refresh_from_db()
    assert connection.next_sync_at <= timezone.now() + dt.timedelta(hours=1)


def test_reads_made_on_a_sandbox_clock_that_was_then_reset_do_not_block_real_time(uk_connection):
    clock_advance(10 * 86400)
    _ = [connection_sync(connection=uk_connection, trigger=SCHEDULED) for _ in range(4)]
    assert connection_sync(connection=uk_connection, trigger=SCHEDULED).error_code == "unattended_limit"
    clock_reset()
    assert connection_sync(connection=uk_connection, trigger=SCHEDULED).outcome == "succeeded"
