"""The sync engine against the sandbox banks over real HTTP, on PostgreSQL (and one run on a real worker)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from types import SimpleNamespace
from unittest import mock

import pytest
from django.utils import timezone

from aggregator.connections.credentials import credentials_load, credentials_store
from aggregator.models import Connection, SyncRun, Transaction
from aggregator.sync.dispatch import connections_dispatch_due
from aggregator.sync.services import connection_sync

from .sync_helpers import assert_matches_ground_truth, connect, sync_to_ground_truth, sync_until_done

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BANKS = ("albion", "rhein", "liberty")


@pytest.mark.parametrize("user", ["alice", "bob", "flaky"])
@pytest.mark.parametrize("bank", BANKS)
def test_a_full_sync_equals_the_ground_truth_and_a_second_sync_changes_nothing(sandbox, bank, user):
    connection = connect(bank, user)

    run, truth = sync_to_ground_truth(connection, bank, user)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    assert run.added_count == Transaction.objects.filter(account__connection=connection).count() > 0
    assert_matches_ground_truth(connection, bank, truth)

    before = dict(Transaction.objects.filter(account__connection=connection).values_list("pk", "updated_at"))
    again = sync_until_done(connection)
    assert (again.outcome, again.added_count, again.modified_count, again.removed_count) == ("succeeded", 0, 0, 0)
    after = dict(Transaction.objects.filter(account__connection=connection).values_list("pk", "updated_at"))
    assert after == before  # no row written: updated_at unchanged everywhere


def _pending_ids(bank: str, user: str, at: dt.datetime) -> set[str]:
    from providers.sandbox.export import export_user

    truth = export_user(bank, user, now=at)
    return {t["id"] for a in truth["accounts"] for t in a["transactions"] if t["status"] == "pending"}


def _advance_to_pending_items(bank: str, user: str) -> None:
    """The deterministic calendar has days with nothing pending (alice's card payments are sparse): move the
    sandbox clock to the next moment with pending items some of which post within three days."""
    from providers.sandbox.clock import sandbox_now
    from providers.sandbox.testing import advance_clock

    now = sandbox_now()
    for hours in range(0, 90 * 24, 6):
        at = now + dt.timedelta(hours=hours)
        pending = _pending_ids(bank, user, at)
        if pending and pending - _pending_ids(bank, user, at + dt.timedelta(days=3)):
            if hours:
                advance_clock(hours=hours)
            return
    raise AssertionError(f"{user} at {bank} has no pending items in the next 90 days")


@pytest.mark.parametrize("bank", BANKS)
def test_when_the_sandbox_clock_moves_pending_items_post_and_the_database_follows(sandbox, bank):
    from providers.sandbox.testing import advance_clock

    _advance_to_pending_items(bank, "alice")
    connection = connect(bank, "alice")
    _, before = sync_to_ground_truth(connection, bank, "alice")
    pending_before = {t["id"] for a in before["accounts"] for t in a["transactions"] if t["status"] == "pending"}
    assert pending_before, "alice should have pending items"

    advance_clock(days=3)
    run, truth = sync_to_ground_truth(connection, bank, "alice")

    pending_after = {t["id"] for a in truth["accounts"] for t in a["transactions"] if t["status"] == "pending"}
    posted = pending_before - pending_after
    assert posted, "three days later some pending items have posted"
    assert run.removed_count >= len(posted) and run.added_count >= len(posted)
    assert_matches_ground_truth(connection, bank, truth)
    removed = set(
        Transaction.objects.filter(account__connection=connection, removed_at__isnull=False).values_list(
            "provider_transaction_id", flat=True
        )
    )
    assert posted <= removed


@pytest.mark.parametrize("bank", BANKS)
def test_an_expired_refresh_token_ends_in_reauth_required_and_the_connection_is_no_longer_dispatched(sandbox, bank):
    from providers.sandbox.testing import advance_clock

    connection = connect(bank, "expired")
    assert sync_until_done(connection).outcome == SyncRun.Outcome.SUCCEEDED
    advance_clock(hours=2)  # the bank's access token has expired; its refresh token is refused

    run = sync_until_done(connection)

    assert run.outcome == SyncRun.Outcome.REAUTH_REQUIRED
    connection.refresh_from_db()
    assert (connection.status, connection.next_sync_at) == (Connection.Status.REAUTH_REQUIRED, None)
    Connection.objects.filter(pk=connection.pk).update(next_sync_at=timezone.now() - dt.timedelta(hours=1))
    with mock.patch("aggregator.sync.services.enqueue_connection_sync") as enqueue:
        assert connections_dispatch_due(now=timezone.now() + dt.timedelta(days=30)) == []
    enqueue.assert_not_called()


def test_scheduled_syncs_never_exceed_the_berlin_banks_daily_limit(sandbox):
    """Dispatch every two hours for three days, with our clock and the bank's moving together."""
    from providers.sandbox.models import SandboxCounter
    from providers.sandbox.testing import advance_clock

    connection = connect("rhein", "alice")
    Connection.objects.filter(pk=connection.pk).update(next_sync_at=timezone.now())
    clock = {"now": timezone.now()}

    def run_now(*, sync_run_id, countdown=0, psu_ip_address="", **_):  # type: ignore[no-untyped-def]
        assert not psu_ip_address  # scheduled syncs are unattended
        run = SyncRun.objects.get(pk=sync_run_id)
        connection_sync(connection=run.connection, trigger=run.trigger, sync_run=run)

    fake_timezone = SimpleNamespace(now=lambda: clock["now"])
    outcomes = []
    with (
        mock.patch("aggregator.sync.engine.timezone", fake_timezone),
        mock.patch("aggregator.sync.allowance.timezone", fake_timezone),
        mock.patch("aggregator.sync.pull.timezone", fake_timezone),
        mock.patch("aggregator.sync.services.enqueue_connection_sync", side_effect=run_now),
    ):
        for _ in range(36):
            # Two hours went by for us too: our copy of the bank's access token has expired. Reload the row
            # first: every sync rotated the refresh token, and writing back this object's stale copy would hand
            # the engine a spent refresh token (the bank rightly refuses it: 400 invalid_grant).
            connection.refresh_from_db()
            credentials = credentials_load(connection=connection)
            credentials_store(connection=connection, credentials=replace(credentials, expires_at=clock["now"]))
            for run in connections_dispatch_due(now=clock["now"]):
                run.refresh_from_db()
                outcomes.append(run.outcome)
            clock["now"] += dt.timedelta(hours=2)
            advance_clock(hours=2)

    assert outcomes.count(SyncRun.Outcome.SUCCEEDED) >= 3  # it kept syncing, day after day...
    assert SyncRun.Outcome.RATE_LIMITED not in outcomes  # ...and the bank never had to refuse a call
    counters = dict(SandboxCounter.objects.filter(key__startswith="freq:").values_list("key", "value"))
    assert counters and max(counters.values()) <= 4, counters


def test_a_sync_requested_on_connect_runs_on_a_real_celery_worker(sandbox, celery_worker):
    connection = connect("albion", "alice", sync=True)  # the connect flow calls sync_request on commit

    deadline = time.monotonic() + 60
    run = SyncRun.objects.filter(connection=connection).first()
    while time.monotonic() < deadline:
        run = SyncRun.objects.filter(connection=connection).first()
        if run and run.outcome not in (SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING):
            break
        time.sleep(0.25)

    assert run is not None and run.trigger == SyncRun.Trigger.CONNECT
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, (run.outcome, run.error_code, run.error_detail)
    assert run.added_count > 0
    assert Transaction.objects.filter(account__connection=connection).count() == run.added_count
