"""Chaos: SIGKILL the Celery worker in the middle of a big first sync (the sandbox's ``bulk`` user at rhein:
~147,000 transactions), start a new worker, and require the same run to finish exactly — no row lost or
duplicated against ``sandbox_export`` — within five minutes of the kill (issue 17, defect 1).

The stale-run reaper runs as beat would run it (here every few seconds, with a short grace) and the new worker
has a short broker visibility timeout: whichever comes first re-delivers the run, which resumes where it
stopped. Meanwhile the API says so: the sync resource ``interrupted``/``in_progress``, the delta feed's meta
``sync_in_progress: true`` and ``history_complete: false``.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time

import pytest
from django.test import Client
from django.utils import timezone

from aggregator.models import SyncRun, Transaction
from aggregator.sync import reaper
from aggregator.sync.services import sync_request
from aggregator.sync.status import sync_run_interrupted
from tests.api.factories import AccessTokenFactory, AuthorisedConsentFactory
from tests.integration import require_redis_broker

from ..conftest import _database_url, ground_truth, without_as_of
from ..sync_helpers import assert_matches_ground_truth, connect, sync_until_done
from .processes import start_worker, stop_process, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BANK, USER = os.environ.get("CHAOS_BANK", "rhein"), "bulk"
RECOVERY_BUDGET = 300  # seconds from the kill to the finished, exact run


def _worker_env(live_server, broker: str) -> dict[str, str]:
    return {
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_VISIBILITY_TIMEOUT": "30",
        "SYNC_LEASE_SECONDS": "10",  # the killed worker's sync lease lapses 10 s after its last heartbeat
        "SANDBOX_BASE_URL": live_server.url + "/sandbox",
        "PUBLIC_BASE_URL": live_server.url,
        "CONN_MAX_AGE": "0",
    }


def _api_view(client: Client, run: SyncRun) -> tuple[dict, dict]:
    sync = client.get(f"/api/v1/syncs/{run.public_id}")
    feed = client.get("/api/v1/transactions/sync", {"count": 1})
    assert sync.status_code == feed.status_code == 200, (sync.content[:200], feed.content[:200])
    return sync.json()["data"], feed.json()["meta"]


def test_a_worker_killed_mid_sync_is_replaced_and_the_run_finishes_exactly_within_five_minutes(
    sandbox, tmp_path, monkeypatch, settings
):
    from aggregator.config.celery import app

    broker = require_redis_broker()
    settings.AGGREGATOR = {**settings.AGGREGATOR, "DELTA_FEED_SAFETY_LAG_SECONDS": 0}
    app.control.purge()
    connection = connect(BANK, USER)
    before = ground_truth(BANK, USER)
    expected = sum(len(a["transactions"]) for a in before["accounts"])
    consent = AuthorisedConsentFactory(user=connection.user, accounts=list(connection.accounts.all()))
    api = Client()
    token = AccessTokenFactory(consent=consent, expires=timezone.now() + dt.timedelta(hours=1))
    api.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token.token}"
    env = _worker_env(sandbox, broker)

    def stored() -> int:
        return Transaction.objects.filter(account__connection=connection).count()

    first = start_worker(env=env, hostname=f"chaos-first-{os.getpid()}@localhost", log_path=tmp_path / "w1.log")
    try:
        run = sync_request(connection=connection, trigger=SyncRun.Trigger.MANUAL)  # autocommit: sent at once
        started = time.monotonic()
        wait_for(lambda: stored() >= expected // 5, timeout=240, interval=0.5, what="a fifth of the rows stored")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.monotonic()
        print(f"\nkilled after {killed_at - started:.0f} s of sync")
    finally:
        stop_process(first, sig=signal.SIGKILL)
    partial = stored()
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.RUNNING and 0 < partial < expected, (run.outcome, partial, expected)

    # Nobody renews the dead worker's sync lease: it lapses (SYNC_LEASE_SECONDS) and the run reads "interrupted".
    wait_for(lambda: sync_run_interrupted(SyncRun.objects.get(pk=run.pk)), timeout=30, what="the lease lapsed")
    sync, meta = _api_view(api, run)
    assert (sync["state"], sync["in_progress"], sync["interrupted"]) == ("running", True, True)
    assert (meta["sync_in_progress"], meta["history_complete"]) == (True, False)

    monkeypatch.setattr(reaper, "RUNNING_GRACE", dt.timedelta(seconds=5))
    second = start_worker(env=env, hostname=f"chaos-second-{os.getpid()}@localhost", log_path=tmp_path / "w2.log")
    try:
        while True:
            reaper.sync_runs_reap_stale()  # beat runs it every minute
            run.refresh_from_db()
            if run.outcome not in (SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING):
                break
            elapsed = time.monotonic() - killed_at
            assert elapsed < RECOVERY_BUDGET, f"not recovered after {elapsed:.0f} s: {run.outcome}, {stored()} rows"
            time.sleep(3)
        recovered_in = time.monotonic() - killed_at
    finally:
        stop_process(second)
        app.control.purge()

    assert run.outcome == SyncRun.Outcome.SUCCEEDED, (run.outcome, run.error_code, run.error_detail)
    truth = ground_truth(BANK, USER)
    if without_as_of(truth) != without_as_of(before):
        # The sandbox runs in real time: a pending item posted during the sync. One more (incremental) sync
        # catches up; exactness is then checked against the bank as it is now.
        sync_until_done(connection)
        truth = ground_truth(BANK, USER)
    assert_matches_ground_truth(connection, BANK, truth)  # every live row, field by field: none lost, none extra
    live = Transaction.objects.filter(account__connection=connection, removed_at__isnull=True).count()
    assert live == sum(len(a["transactions"]) for a in truth["accounts"])  # and none twice
    sync, meta = _api_view(api, run)
    assert (sync["state"], sync["in_progress"], sync["interrupted"]) == ("succeeded", False, False)
    assert (meta["sync_in_progress"], meta["history_complete"]) == (False, True)
    print(f"\nkilled at {partial}/{expected} rows; finished exactly {recovered_in:.0f} s after the kill")
