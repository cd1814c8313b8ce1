"""Issue 17 defect 1: the delta feed's meta and the sync resource say "sync in progress / incomplete" while a sync
of the consent's connections is queued, running or interrupted (rules: ``aggregator.sync.status``)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from aggregator.models import Connection, SyncLease, SyncRun
from aggregator.sync import status
from aggregator.sync.locks import lease_claim
from tests.factories import ConnectionFactory, SyncRunFactory, TransactionFactory

pytestmark = pytest.mark.django_db

FEED = "/api/v1/transactions/sync"


def _meta(api):  # type: ignore[no-untyped-def]
    response = api.get(FEED)
    assert response.status_code == 200, response.content
    return response.json()["meta"]


def _synced(connection: Connection) -> None:
    Connection.objects.filter(pk=connection.pk).update(last_synced_at=timezone.now())


def test_before_the_first_sync_finishes_the_feed_says_the_history_is_incomplete(api, alice_connection):
    run = SyncRunFactory(connection=alice_connection, outcome=SyncRun.Outcome.RUNNING, started_at=timezone.now())
    meta = _meta(api)
    assert (meta["sync_in_progress"], meta["history_complete"]) == (True, False)

    SyncRun.objects.filter(pk=run.pk).update(outcome=SyncRun.Outcome.SUCCEEDED, finished_at=timezone.now())
    _synced(alice_connection)
    meta = _meta(api)
    assert (meta["sync_in_progress"], meta["history_complete"]) == (False, True)


@pytest.mark.parametrize("outcome", [SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING])
def test_a_queued_or_running_sync_of_a_synced_connection_is_in_progress(api, alice_connection, outcome):
    _synced(alice_connection)
    SyncRunFactory(connection=alice_connection, outcome=outcome)
    meta = _meta(api)
    assert (meta["sync_in_progress"], meta["history_complete"]) == (True, True)


@pytest.mark.parametrize(
    "outcome",
    [SyncRun.Outcome.SUCCEEDED, SyncRun.Outcome.FAILED, SyncRun.Outcome.SKIPPED, SyncRun.Outcome.RATE_LIMITED],
)
def test_finished_syncs_are_not_in_progress(api, alice_connection, outcome):
    _synced(alice_connection)
    SyncRunFactory(connection=alice_connection, outcome=outcome, finished_at=timezone.now())
    assert _meta(api)["sync_in_progress"] is False


def test_a_sync_of_another_users_connection_is_not_reported(api, alice_connection, bob_account):
    _synced(alice_connection)
    SyncRunFactory(connection=bob_account.connection, outcome=SyncRun.Outcome.RUNNING)
    assert _meta(api)["sync_in_progress"] is False


def test_the_meta_is_on_every_page_of_a_walk(api, alice_connection, shared_account):
    for day in range(1, 4):
        TransactionFactory(account=shared_account, booking_date=dt.date(2026, 2, day))
    SyncRunFactory(connection=alice_connection, outcome=SyncRun.Outcome.RUNNING)
    body = api.get(FEED, {"count": 1}).json()
    while True:
        assert body["meta"]["sync_in_progress"] is True and body["meta"]["history_complete"] is False
        if not body["data"]["has_more"]:
            break
        body = api.get(FEED, {"count": 1, "cursor": body["data"]["next_cursor"]}).json()


def _resource(api, run):  # type: ignore[no-untyped-def]
    response = api.get(f"/api/v1/syncs/{run.public_id}")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_the_sync_resource_says_a_queued_sync_is_in_progress_and_not_interrupted(api, alice_connection):
    data = _resource(api, SyncRunFactory(connection=alice_connection, outcome=SyncRun.Outcome.QUEUED))
    assert (data["state"], data["in_progress"], data["interrupted"]) == ("queued", True, False)


def test_a_sync_the_reaper_re_enqueued_after_its_worker_died_is_reported_interrupted(api, alice_connection):
    started = timezone.now() - dt.timedelta(minutes=5)
    run = SyncRunFactory(connection=alice_connection, outcome=SyncRun.Outcome.QUEUED, started_at=started)
    data = _resource(api, run)
    assert (data["state"], data["in_progress"], data["interrupted"]) == ("queued", True, True)


def test_a_running_sync_whose_worker_died_is_reported_interrupted(api, alice_connection, monkeypatch):
    started = timezone.now() - dt.timedelta(minutes=5)
    run = SyncRunFactory(connection=alice_connection, outcome=SyncRun.Outcome.RUNNING, started_at=started)
    monkeypatch.setattr(status, "_lock_held", lambda connection_id: False)  # nobody holds its lease
    assert _resource(api, run)["interrupted"] is True
    monkeypatch.setattr(status, "_lock_held", lambda connection_id: True)  # its worker is alive
    assert _resource(api, run)["interrupted"] is False


def test_a_running_sync_is_interrupted_once_its_workers_lease_lapsed(api, alice_connection):
    run = SyncRunFactory(
        connection=alice_connection,
        outcome=SyncRun.Outcome.RUNNING,
        started_at=timezone.now() - dt.timedelta(minutes=5),
    )
    assert lease_claim(connection_id=alice_connection.pk, sync_run_id=run.pk) is not None
    assert _resource(api, run)["interrupted"] is False
    SyncLease.objects.filter(connection_id=alice_connection.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert _resource(api, run)["interrupted"] is True


def test_a_finished_sync_is_neither_in_progress_nor_interrupted(api, alice_connection):
    now = timezone.now()
    run = SyncRunFactory(
        connection=alice_connection, outcome=SyncRun.Outcome.SUCCEEDED, started_at=now, finished_at=now
    )
    data = _resource(api, run)
    assert (data["in_progress"], data["interrupted"]) == (False, False)


def test_the_status_of_several_connections_needs_every_one_synced():
    first, second = ConnectionFactory(), ConnectionFactory()
    _synced(first)
    got = status.connections_sync_status(connection_ids=[first.pk, second.pk])
    assert got == status.SyncStatus(in_progress=False, history_complete=False)
    _synced(second)
    assert status.connections_sync_status(connection_ids=[first.pk, second.pk]).history_complete is True
