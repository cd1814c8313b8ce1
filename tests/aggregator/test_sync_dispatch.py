"""The dispatcher, the unattended budget and the Celery tasks (no broker: tasks are called directly)."""

from __future__ import annotations

import datetime as dt
import itertools
from unittest import mock

import pytest
from django.utils import timezone

from aggregator.models import Connection, SyncRun
from aggregator.sync import budget
from aggregator.sync.dispatch import connections_dispatch_due
from aggregator.sync.services import connection_sync
from aggregator.tasks import (
    RETRY_BACKOFF_MAX,
    SYNC_MAX_RETRIES,
    connection_sync_task,
    connections_dispatch_task,
    retry_countdown,
)
from providers.base import RateLimitedError, TransientProviderError
from tests.aggregator.sync_fakes import FakeLimitedAdapter, fake_bank, make_connection, txn  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def enqueued():
    """What the dispatcher handed to Celery: (sync_run_id, countdown) pairs."""
    sent: list[tuple[int, float]] = []
    with mock.patch(
        "aggregator.sync.services.enqueue_connection_sync",
        side_effect=lambda *, sync_run_id, countdown=0, **_: sent.append((sync_run_id, countdown)),
    ):
        yield sent


def test_due_connections_are_queued_with_jitter_and_their_next_sync_moves_on(fake_bank, enqueued, settings):  # noqa: F811
    # A bank without a regulatory cap on unattended access (US): the configured interval alone plans the next sync.
    settings.AGGREGATOR = {
        **settings.AGGREGATOR,
        "SYNC_JITTER_SECONDS": 30,
        "SYNC_INTERVAL": dt.timedelta(hours=1),
        "COMPLIANCE_REGIME": "US",
    }
    due = make_connection(next_sync_at=NOW - dt.timedelta(minutes=5))
    erroring = make_connection(status=Connection.Status.ERROR, next_sync_at=NOW)

    runs = connections_dispatch_due(now=NOW)

    assert {r.connection_id for r in runs} == {due.pk, erroring.pk}
    assert all(r.trigger == SyncRun.Trigger.SCHEDULED and r.outcome == SyncRun.Outcome.QUEUED for r in runs)
    assert sorted(pk for pk, _ in enqueued) == sorted(r.pk for r in runs)
    assert all(0 <= countdown <= 30 for _, countdown in enqueued)
    due.refresh_from_db()
    assert due.next_sync_at == NOW + dt.timedelta(hours=1)


def test_paused_disconnected_and_not_yet_due_connections_are_not_queued(fake_bank, enqueued):  # noqa: F811
    make_connection(status=Connection.Status.REAUTH_REQUIRED, next_sync_at=NOW - dt.timedelta(days=1))
    make_connection(status=Connection.Status.DISCONNECTED, next_sync_at=NOW - dt.timedelta(days=1))
    make_connection(next_sync_at=NOW + dt.timedelta(seconds=1))
    make_connection(next_sync_at=None)

    assert connections_dispatch_due(now=NOW) == []
    assert enqueued == []


def test_a_connection_is_queued_once_even_if_dispatch_runs_again_before_it_syncs(fake_bank, enqueued):  # noqa: F811
    connection = make_connection(next_sync_at=NOW)

    assert len(connections_dispatch_due(now=NOW)) == 1
    Connection.objects.filter(pk=connection.pk).update(next_sync_at=NOW)  # e.g. an admin made it due again
    assert connections_dispatch_due(now=NOW + dt.timedelta(minutes=1)) == []  # its queued run is still waiting
    assert len(enqueued) == 1


def test_a_broker_outage_leaves_no_queued_run_and_the_connection_due_for_the_next_minute(fake_bank):  # noqa: F811
    connection = make_connection(next_sync_at=NOW - dt.timedelta(minutes=5))
    down = mock.patch("aggregator.sync.services.enqueue_connection_sync", side_effect=OSError("connection refused"))

    with down:
        assert connections_dispatch_due(now=NOW) == []

    assert not SyncRun.objects.filter(connection=connection).exists()  # no orphan run using up the connection
    connection.refresh_from_db()
    assert connection.next_sync_at == NOW - dt.timedelta(minutes=5)  # not moved one interval on
    sent = []
    with mock.patch(
        "aggregator.sync.services.enqueue_connection_sync",
        side_effect=lambda *, sync_run_id, countdown=0, **_: sent.append(sync_run_id),
    ):
        runs = connections_dispatch_due(now=NOW + dt.timedelta(minutes=1))  # the broker is back
    assert [r.connection_id for r in runs] == [connection.pk] and sent == [runs[0].pk]


def test_when_the_broker_fails_mid_way_only_the_unsent_claims_are_released(fake_bank, settings):  # noqa: F811
    settings.AGGREGATOR = {**settings.AGGREGATOR, "SYNC_INTERVAL": dt.timedelta(hours=1), "COMPLIANCE_REGIME": "US"}
    first = make_connection(next_sync_at=NOW - dt.timedelta(minutes=2))
    second = make_connection(next_sync_at=NOW - dt.timedelta(minutes=1))
    third = make_connection(next_sync_at=NOW)
    calls = itertools.count()

    def flaky(*, sync_run_id, countdown=0, **_):  # type: ignore[no-untyped-def]
        if next(calls) >= 1:
            raise OSError("broker went away")

    with mock.patch("aggregator.sync.services.enqueue_connection_sync", side_effect=flaky):
        runs = connections_dispatch_due(now=NOW)

    assert [r.connection_id for r in runs] == [first.pk]
    assert list(SyncRun.objects.values_list("connection_id", flat=True)) == [first.pk]
    for connection, expected in [
        (first, NOW + dt.timedelta(hours=1)),
        (second, NOW - dt.timedelta(minutes=1)),
        (third, NOW),
    ]:
        connection.refresh_from_db()
        assert connection.next_sync_at == expected, connection


def _tick_queries(count: int) -> int:
    """Queries of one dispatch tick with ``count`` due connections (a few not due, one paused, one busy beside)."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    Connection.objects.all().delete()
    for _ in range(count):
        make_connection(next_sync_at=NOW - dt.timedelta(minutes=1))
    make_connection(next_sync_at=NOW + dt.timedelta(minutes=5))
    make_connection(status=Connection.Status.REAUTH_REQUIRED, next_sync_at=NOW)
    busy = make_connection(next_sync_at=NOW)
    SyncRun.objects.create(connection=busy, outcome=SyncRun.Outcome.RUNNING, started_at=NOW)
    with CaptureQueriesContext(db) as queries:
        runs = connections_dispatch_due(now=NOW)
    assert len(runs) == count
    return len(queries)


def test_a_tick_costs_the_same_few_queries_for_three_or_thirty_due_connections(fake_bank, enqueued):  # noqa: F811
    # Claim, busy check, the sandbox clock, the UK reconfirmation gate, the unattended-access window (two), the
    # UPDATE of next_sync_at and the INSERT of the runs (plus savepoints): a fixed handful either way.
    assert _tick_queries(3) == _tick_queries(30) <= 12


def test_a_tick_sends_every_task_over_one_broker_producer(fake_bank):  # noqa: F811
    for minutes in (3, 2, 1):
        make_connection(next_sync_at=NOW - dt.timedelta(minutes=minutes))
    producers = []
    with mock.patch(
        "aggregator.sync.services.enqueue_connection_sync",
        side_effect=lambda *, sync_run_id, countdown=0, producer=None: producers.append(producer),
    ):
        assert len(connections_dispatch_due(now=NOW)) == 3
    assert producers[0] is not None and all(p is producers[0] for p in producers)


def test_a_connection_at_a_bank_without_an_adapter_is_not_scheduled_for_a_day(fake_bank, enqueued):  # noqa: F811
    orphan = make_connection("no_such_dialect", next_sync_at=NOW)
    fine = make_connection(next_sync_at=NOW)

    runs = connections_dispatch_due(now=NOW)

    assert [r.connection_id for r in runs] == [fine.pk]
    orphan.refresh_from_db()
    assert orphan.next_sync_at == NOW + dt.timedelta(days=1)


def test_the_dispatch_task_returns_how_many_syncs_it_queued(fake_bank, enqueued):  # noqa: F811
    make_connection(next_sync_at=timezone.now() - dt.timedelta(minutes=1))
    assert connections_dispatch_task() == 1


def test_the_beat_schedule_runs_the_dispatcher_every_minute_and_is_created_once():
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    migration = importlib.import_module("aggregator.migrations.0002_dispatch_periodic_task")
    migration.create_periodic_task(apps, None)
    migration.create_periodic_task(apps, None)  # idempotent

    task = PeriodicTask.objects.get(name="dispatch due syncs")
    assert task.task == "aggregator.tasks.connections_dispatch_task" and task.enabled
    assert (task.interval.every, task.interval.period) == (1, "minutes")
    assert PeriodicTask.objects.filter(task=task.task).count() == 1


# --- the unattended budget ------------------------------------------------------------------------------
def _simulate(fake_bank, *, days: int, step: dt.timedelta, manual_at: set[int] = frozenset()):  # noqa: F811
    """Run the dispatcher every ``step`` for ``days`` with its syncs executed at once, on a moving clock;
    return the times the bank was called."""
    connection = make_connection("fake_limited", next_sync_at=NOW)
    clock = {"now": NOW}
    bank_calls: list[dt.datetime] = []
    real_list = FakeLimitedAdapter.list_accounts

    def list_accounts(self, credentials):  # type: ignore[no-untyped-def]
        bank_calls.append(clock["now"])
        return real_list(self, credentials)

    def run_now(*, sync_run_id, countdown=0, **_):  # type: ignore[no-untyped-def]
        run = SyncRun.objects.get(pk=sync_run_id)
        connection_sync(connection=run.connection, trigger=run.trigger, sync_run=run)

    with (
        mock.patch("django.utils.timezone.now", side_effect=lambda: clock["now"]),
        mock.patch.object(FakeLimitedAdapter, "list_accounts", list_accounts),
        mock.patch("aggregator.sync.services.enqueue_connection_sync", side_effect=run_now),
    ):
        tick = 0
        while clock["now"] < NOW + dt.timedelta(days=days):
            connections_dispatch_due(now=clock["now"])
            if tick in manual_at:
                connection_sync(connection=connection, trigger=SyncRun.Trigger.MANUAL)
            clock["now"] += step
            tick += 1
    return connection, bank_calls


def _max_in_any_day(calls: list[dt.datetime]) -> int:
    return max(sum(1 for c in calls if start <= c < start + dt.timedelta(days=1)) for start in calls)


def test_scheduled_syncs_never_exceed_the_banks_unattended_daily_limit(fake_bank, settings):  # noqa: F811
    settings.AGGREGATOR = {**settings.AGGREGATOR, "SYNC_INTERVAL": dt.timedelta(minutes=15), "SYNC_JITTER_SECONDS": 0}
    fake_bank.add_account("acc-1")
    fake_bank.put(txn("t1"))

    _, calls = _simulate(fake_bank, days=3, step=dt.timedelta(minutes=10))

    # 4 counted calls per account a day, 2 per sync (balances + first transactions page): 2 syncs a day
    assert FakeLimitedAdapter.unattended_calls_per_day == 4
    assert budget.syncs_per_day(FakeLimitedAdapter) == 2
    assert 2 * 3 - 1 <= len(calls) <= 2 * 3  # the budget is used, spread over the days...
    assert _max_in_any_day(calls) <= 2  # ...and never exceeded in any 24 hours, whatever the bank's time zone
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= dt.timedelta(hours=12)


def test_manual_syncs_count_against_the_budget_that_scheduled_syncs_respect(fake_bank, settings):  # noqa: F811
    settings.AGGREGATOR = {**settings.AGGREGATOR, "SYNC_INTERVAL": dt.timedelta(minutes=15), "SYNC_JITTER_SECONDS": 0}
    fake_bank.add_account("acc-1")

    _, calls = _simulate(fake_bank, days=2, step=dt.timedelta(minutes=30), manual_at={1, 2, 3})

    scheduled = list(
        SyncRun.objects.filter(trigger="scheduled", outcome="succeeded").values_list("started_at", flat=True)
    )
    assert scheduled  # the schedule went on once the budget allowed
    for start in scheduled:  # a scheduled sync starts only with budget left in the 24 hours before it
        assert sum(1 for c in calls if start - dt.timedelta(days=1) < c <= start) <= 2
    # the first scheduled sync ran at once; the manual ones (ticks 1-3) then used the budget up for a day
    assert sorted(scheduled)[1] >= NOW + dt.timedelta(minutes=90) + dt.timedelta(days=1)


def test_a_scheduled_sync_beyond_the_budget_is_skipped_without_calling_the_bank(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    connection = make_connection("fake_limited")
    now = timezone.now()
    connection.sync_state = {budget.BUDGET_KEY: [(now - dt.timedelta(hours=h)).isoformat() for h in (1, 2)]}
    connection.save()

    run = connection_sync(connection=connection, trigger=SyncRun.Trigger.SCHEDULED)

    assert (run.outcome, run.error_code) == (SyncRun.Outcome.SKIPPED, "daily_limit")
    assert fake_bank.calls == []
    connection.refresh_from_db()
    assert connection.next_sync_at > now + dt.timedelta(hours=19)


def test_the_budget_frees_up_when_the_oldest_attempt_leaves_the_24_hour_window(fake_bank):  # noqa: F811
    connection = make_connection("fake_limited")
    attempts = [NOW - dt.timedelta(hours=h) for h in (23, 10)]
    connection.sync_state = {budget.BUDGET_KEY: [a.isoformat() for a in attempts]}

    assert not budget.budget_allows(connection, FakeLimitedAdapter, now=NOW)
    free_at = budget.budget_next_free_at(connection, FakeLimitedAdapter, now=NOW)
    assert free_at == attempts[0] + dt.timedelta(days=1) + budget.MARGIN
    assert budget.budget_allows(connection, FakeLimitedAdapter, now=free_at)


# --- tasks ----------------------------------------------------------------------------------------------
def test_the_sync_task_is_late_acked_time_limited_and_retry_capped():
    assert connection_sync_task.acks_late is True
    assert connection_sync_task.max_retries == SYNC_MAX_RETRIES
    assert connection_sync_task.soft_time_limit < connection_sync_task.time_limit


def test_retry_delays_back_off_with_jitter_up_to_a_cap_and_honour_retry_after():
    first = [retry_countdown(0) for _ in range(50)]
    late = [retry_countdown(20) for _ in range(50)]
    assert all(15 <= d <= 30 for d in first) and len(set(first)) > 1
    assert all(RETRY_BACKOFF_MAX / 2 <= d <= RETRY_BACKOFF_MAX for d in late)
    assert retry_countdown(0, retry_after=600) >= 600


def test_the_sync_task_runs_the_queued_run(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.put(txn("t1"))
    run = SyncRun.objects.create(connection=make_connection(), trigger=SyncRun.Trigger.CONNECT)

    assert connection_sync_task.apply(args=[run.pk]).get() == SyncRun.Outcome.SUCCEEDED
    run.refresh_from_db()
    assert (run.outcome, run.added_count) == (SyncRun.Outcome.SUCCEEDED, 1)
    # redelivered after success: nothing runs again
    calls = len(fake_bank.calls)
    assert connection_sync_task.apply(args=[run.pk]).get() == SyncRun.Outcome.SUCCEEDED
    assert len(fake_bank.calls) == calls


@pytest.mark.parametrize(
    ("error", "minimum"),
    [(TransientProviderError("502"), 15), (RateLimitedError("429", retry_after=900), 900)],
)
def test_the_sync_task_retries_transient_errors_with_a_countdown(fake_bank, error, minimum):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.errors["list_accounts"] = error
    run = SyncRun.objects.create(connection=make_connection())

    with (
        mock.patch.object(connection_sync_task, "retry", side_effect=RuntimeError("retry")) as retry,
        pytest.raises(RuntimeError, match="retry"),
    ):
        connection_sync_task.apply(args=[run.pk], throw=True)

    assert retry.call_args.kwargs["exc"] is error
    assert retry.call_args.kwargs["countdown"] >= minimum


def test_the_sync_task_does_not_retry_permanent_errors(fake_bank):  # noqa: F811
    from providers.base import PermanentProviderError

    fake_bank.add_account("acc-1")
    fake_bank.errors["list_accounts"] = PermanentProviderError("nope")
    run = SyncRun.objects.create(connection=make_connection())

    with mock.patch.object(connection_sync_task, "retry") as retry:
        assert connection_sync_task.apply(args=[run.pk]).get() == SyncRun.Outcome.FAILED
    retry.assert_not_called()


def test_the_sync_task_ignores_a_run_that_no_longer_exists():
    assert connection_sync_task.apply(args=[987654]).get() is None


def test_a_restart_after_a_refused_access_token_resumes_and_is_not_counted_again(fake_bank):  # noqa: F811
    from providers.base import AccessTokenExpiredError

    fake_bank.add_account("acc-1")
    fake_bank.add_account("acc-2")
    fake_bank.errors["get_balances"] = AccessTokenExpiredError("expired")  # refused, so not served: not counted
    connection = make_connection("fake_limited")

    assert connection_sync(connection=connection, trigger=SyncRun.Trigger.SCHEDULED).outcome == "succeeded"

    connection.refresh_from_db()
    assert len(connection.sync_state[budget.BUDGET_KEY]) == 1
    assert "progress" not in connection.sync_state  # the run is over
    assert connection_sync(connection=connection, trigger=SyncRun.Trigger.SCHEDULED).outcome == "succeeded"
    assert connection_sync(connection=connection, trigger=SyncRun.Trigger.SCHEDULED).error_code == "daily_limit"


def test_a_restart_that_must_re_read_a_served_first_page_counts_once_more(fake_bank):  # noqa: F811
    from providers.base import AccessTokenExpiredError

    fake_bank.add_account("acc-1")
    fake_bank.put(*(txn(f"t{i}", day=i) for i in range(1, 6)))
    fake_bank.fail_after_pages, fake_bank.fail_with = 1, AccessTokenExpiredError("expired mid-listing")
    connection = make_connection("fake_limited")
    real_refresh = FakeLimitedAdapter.refresh

    def refresh(self, credentials):  # type: ignore[no-untyped-def]
        fake_bank.fail_after_pages = None  # the new token works
        return real_refresh(self, credentials)

    with mock.patch.object(FakeLimitedAdapter, "refresh", refresh):
        run = connection_sync(connection=connection, trigger=SyncRun.Trigger.SCHEDULED)

    assert (run.outcome, run.added_count) == ("succeeded", 5)
    connection.refresh_from_db()
    assert len(connection.sync_state[budget.BUDGET_KEY]) == 2  # the listing's first page was read twice
    assert [c[0] for c in fake_bank.calls].count("get_balances") == 1  # the balances were not asked for again


def test_a_retried_run_is_not_counted_again_and_asks_only_for_what_it_lacks(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.add_account("acc-2")
    fake_bank.put(txn("t1"), txn("t2", account="acc-2"))
    connection = make_connection("fake_limited")
    run = SyncRun.objects.create(connection=connection, trigger=SyncRun.Trigger.SCHEDULED)
    real_iter = FakeLimitedAdapter.iter_transactions

    def iter_transactions(self, credentials, account, **kwargs):  # type: ignore[no-untyped-def]
        if account.provider_account_id == "acc-2" and not getattr(iter_transactions, "failed", False):
            iter_transactions.failed = True  # type: ignore[attr-defined]
            raise TransientProviderError("bank down")
        return real_iter(self, credentials, account, **kwargs)

    with mock.patch.object(FakeLimitedAdapter, "iter_transactions", iter_transactions):
        with pytest.raises(TransientProviderError):
            connection_sync(connection=connection, sync_run=run)
        before = len(fake_bank.calls)
        run = connection_sync(connection=connection, sync_run=run)  # the task's retry

    assert run.outcome == "succeeded" and run.added_count == 2
    retry_calls = fake_bank.calls[before:]
    assert [c for c in retry_calls if c[0] in ("get_balances", "window")] == [("window", "acc-2", None)]
    connection.refresh_from_db()
    assert len(connection.sync_state[budget.BUDGET_KEY]) == 1


def test_a_sync_for_a_present_user_is_not_an_unattended_access(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    connection = make_connection("fake_limited")
    seen: list[str] = []
    real_list = FakeLimitedAdapter.list_accounts

    def list_accounts(self, credentials):  # type: ignore[no-untyped-def]
        seen.append(self.psu_ip_address)
        return real_list(self, credentials)

    with mock.patch.object(FakeLimitedAdapter, "list_accounts", list_accounts):
        for _ in range(3):
            run = connection_sync(connection=connection, trigger=SyncRun.Trigger.CONNECT, psu_ip_address="203.0.113.9")
            assert run.outcome == "succeeded"

    assert seen == ["203.0.113.9"] * 3  # the adapter tells the bank the user is there
    connection.refresh_from_db()
    assert budget.BUDGET_KEY not in connection.sync_state


def test_a_scheduled_sync_cannot_claim_the_user_is_present(fake_bank):  # noqa: F811
    from aggregator.sync.services import sync_request

    connection = make_connection("fake_limited")
    with pytest.raises(ValueError, match="unattended"):
        sync_request(connection=connection, trigger=SyncRun.Trigger.SCHEDULED, psu_ip_address="203.0.113.9")
    with pytest.raises(ValueError, match="unattended"):
        connection_sync(connection=connection, trigger=SyncRun.Trigger.SCHEDULED, psu_ip_address="203.0.113.9")
    assert not SyncRun.objects.exists()


def test_a_third_party_refresh_may_carry_the_present_users_ip_address(fake_bank):  # noqa: F811
    """A TPP whose user is there says so (PSU-IP-Address / x-fapi-customer-ip-address on the refresh request)."""
    from aggregator.sync.services import sync_request

    connection = make_connection("fake_limited")
    run = sync_request(connection=connection, trigger=SyncRun.Trigger.API, psu_ip_address="203.0.113.9")
    assert run.trigger == SyncRun.Trigger.API


def test_the_sync_task_passes_the_present_users_ip_address_to_the_sync(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    run = SyncRun.objects.create(connection=make_connection("fake_limited"), trigger=SyncRun.Trigger.CONNECT)
    with mock.patch("aggregator.sync.services.run_sync") as run_sync:
        run_sync.return_value = run
        connection_sync_task.apply(args=[run.pk], kwargs={"psu_ip_address": "203.0.113.9"}).get()
    assert run_sync.call_args.kwargs["psu_ip_address"] == "203.0.113.9"
