"""The stale-run reaper re-enqueues syncs whose worker died, and leaves live ones alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from aggregator.models import SyncLease, SyncRun
from aggregator.sync import reaper
from aggregator.sync.locks import lease_claim
from tests.factories import SyncRunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):  # type: ignore[no-untyped-def]
    ids: list[int] = []
    monkeypatch.setattr(reaper, "enqueue_connection_sync", lambda *, sync_run_id: ids.append(sync_run_id))
    return ids


def _run(outcome, *, started_ago=None, queued_ago=timedelta(0)):  # type: ignore[no-untyped-def]
    now = timezone.now()
    run = SyncRunFactory(outcome=outcome, started_at=None if started_ago is None else now - started_ago)
    SyncRun.objects.filter(pk=run.pk).update(queued_at=now - queued_ago)
    return run


def test_a_running_sync_whose_lock_is_free_is_re_enqueued_as_queued(monkeypatch, sent):
    monkeypatch.setattr(reaper, "connection_lock_free", lambda *, connection_id: True)  # its worker's session died
    run = _run(SyncRun.Outcome.RUNNING, started_ago=timedelta(minutes=5))
    assert reaper.sync_runs_reap_stale() == [run.pk]
    assert sent == [run.pk]
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.QUEUED
    assert reaper.sync_runs_reap_stale() == []  # not reaped again while its new task is on the way


def test_a_running_sync_whose_lock_is_held_is_left_alone(monkeypatch, sent):
    monkeypatch.setattr(reaper, "connection_lock_free", lambda *, connection_id: False)
    _run(SyncRun.Outcome.RUNNING, started_ago=timedelta(minutes=5))
    assert reaper.sync_runs_reap_stale() == [] and sent == []


def test_a_sync_that_just_started_is_never_reaped(monkeypatch, sent):
    monkeypatch.setattr(reaper, "connection_lock_free", lambda *, connection_id: True)
    _run(SyncRun.Outcome.RUNNING, started_ago=timedelta(seconds=10))
    assert reaper.sync_runs_reap_stale() == [] and sent == []


def test_a_running_sync_whose_worker_died_is_reaped_once_its_lease_lapsed(sent):
    run = _run(SyncRun.Outcome.RUNNING, started_ago=timedelta(minutes=5))
    assert lease_claim(connection_id=run.connection_id, sync_run_id=run.pk, ttl=timedelta(minutes=2)) is not None
    assert reaper.sync_runs_reap_stale() == []  # its worker still renews the lease

    SyncLease.objects.filter(connection_id=run.connection_id).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert reaper.sync_runs_reap_stale() == [run.pk] and sent == [run.pk]


def test_a_queued_sync_whose_task_was_lost_is_re_enqueued(settings, sent):
    settings.CELERY_TASK_TIME_LIMIT = 600
    fresh = _run(SyncRun.Outcome.QUEUED, queued_ago=timedelta(minutes=5))
    lost = _run(SyncRun.Outcome.QUEUED, queued_ago=timedelta(minutes=25))
    assert reaper.sync_runs_reap_stale() == [lost.pk]
    assert fresh.pk not in sent


def test_a_finished_sync_is_never_reaped(sent):
    _run(SyncRun.Outcome.SUCCEEDED, started_ago=timedelta(hours=3), queued_ago=timedelta(hours=3))
    assert reaper.sync_runs_reap_stale() == []


def test_the_redis_broker_redelivers_a_dead_workers_task_after_the_hard_time_limit_not_an_hour(monkeypatch):
    import importlib

    from aggregator.config import settings as project_settings

    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/8")
    monkeypatch.setenv("CELERY_TASK_TIME_LIMIT", "900")
    try:
        reloaded = importlib.reload(project_settings)
        assert reloaded.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] == 900 + 300
    finally:
        monkeypatch.undo()
        importlib.reload(project_settings)
