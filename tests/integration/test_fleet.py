"""A fleet on one PostgreSQL and a broker — each test runs on Redis and on RabbitMQ: two beats send each periodic
task once (the lock), and three worker processes sync a tick's due connections exactly once each, with the same
rows as one worker.

The RabbitMQ runs use ``RABBITMQ_BROKER_URL`` (default ``amqp://guest:guest@127.0.0.1:5672//``): skipped with the
reason when it is unreachable, a failure under ``REQUIRE_INTEGRATION=1``. What the tests read from a broker (a
queue's length) goes through kombu (``tests/integration/brokers.py``), the same on both.

The CI variant dispatches ``FLEET_CONNECTIONS`` (default 24) connections; ``FLEET_CONNECTIONS=500`` is the
issue's long run (``make chaos``-style; minutes on this 2-core machine). The connections are copies of one real
sandbox connection (its encrypted credentials), each owned by its own user, so every sync calls the sandbox bank
over real HTTP.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from aggregator.management.commands.sandbox_connect import sandbox_connect
from aggregator.models import SyncRun, Transaction
from aggregator.sync.dispatch import connections_dispatch_due
from aggregator.sync.services import SYNC_TASK, connection_sync
from benchmarks.bench_fleet import clone_connections
from tests.integration import require_postgres
from tests.integration.brokers import BROKERS, BrokerQueue, broker_url, celery_app_on

from .conftest import ROOT, _database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CELERY = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"


@pytest.fixture(params=BROKERS)
def broker(request) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The broker URL of this run ("redis", "rabbitmq"), with this process's Celery app sending to it."""
    require_postgres()
    url = broker_url(request.param)
    with celery_app_on(url):
        yield url


def _env(live_server, broker: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "SANDBOX_BASE_URL": live_server.url + "/sandbox",
        "PUBLIC_BASE_URL": live_server.url,
        "CONN_MAX_AGE": "0",
        # The tests count lines of these logs: unbuffered, so a worker stopped the hard way loses none.
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def _stop(process: subprocess.Popen, *, kill: bool = False) -> None:
    if process.poll() is None:
        process.kill() if kill else process.terminate()
    try:
        process.wait(timeout=60)  # a warm shutdown lets running tasks finish: slow on a busy 2-core machine
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# --- two beats, one sender -----------------------------------------------------------------------------------
def _beat(env: dict[str, str], tmp_path: Path, name: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"{name}.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [CELERY, "-A", "aggregator.config", "beat", "--loglevel=INFO", f"--pidfile={tmp_path / name}.pid"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, log


def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


# The beat lock does not depend on the broker: CI runs this on Redis; the RabbitMQ run (a minute more on a 2-core
# machine) is in `make chaos`. The three workers' test below runs on both brokers in CI.
@pytest.mark.parametrize("broker", ["redis", pytest.param("rabbitmq", marks=pytest.mark.chaos)], indirect=True)
def test_two_beats_send_each_periodic_task_once_and_the_standby_takes_over(sandbox_banks, broker, tmp_path):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

    queue = BrokerQueue(broker, f"beat-test-{os.getpid()}")
    PeriodicTask.objects.update(enabled=False)
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="beat test", task="aggregator.tasks.sync_runs_reap_task", interval=every_second, queue=queue.name
    )
    PeriodicTasks.update_changed()
    env = _env(sandbox_banks, broker, BEAT_STANDBY_POLL_SECONDS="1")
    with queue:
        queue.delete()  # leftovers of an interrupted run
        first, first_log = _beat(env, tmp_path, "beat-a")
        second = None
        try:
            _wait(lambda: len(queue) >= 2, 60, "the first beat to send")
            second, second_log = _beat(env, tmp_path, "beat-b")
            _wait(lambda: "beat: Starting" in second_log.read_text(), 60, "the second beat to start")
            time.sleep(2)  # past its first polls
            sent_before, started = len(queue), time.monotonic()
            time.sleep(8)
            rate = (len(queue) - sent_before) / (time.monotonic() - started)
            assert 0.6 <= rate <= 1.3, f"{rate:.2f} sends/s from two beats on a 1 s schedule (two senders: ~2)"
            assert "acquired the beat lock" in first_log.read_text()
            assert "acquired the beat lock" not in second_log.read_text()

            _stop(first, kill=True)  # the leader dies without a word: PostgreSQL drops its session and the lock
            _wait(lambda: "acquired the beat lock" in second_log.read_text(), 30, "the standby to take over")
            sent_before, started = len(queue), time.monotonic()
            time.sleep(5)
            rate = (len(queue) - sent_before) / (time.monotonic() - started)
            assert 0.6 <= rate <= 1.4, f"{rate:.2f} sends/s after the takeover"
        finally:
            _stop(first)
            if second is not None:
                _stop(second)
            queue.delete()


# --- three workers, one tick ---------------------------------------------------------------------------------


def test_three_workers_sync_each_due_connection_exactly_once_with_the_rows_of_one_worker(
    sandbox_banks, broker, settings, tmp_path
):
    from aggregator.config.celery import app

    count = int(os.environ.get("FLEET_CONNECTIONS", "24"))
    settings.AGGREGATOR = {**settings.AGGREGATOR, "SYNC_JITTER_SECONDS": 0}
    # One worker's answer: the original connection synced in this process.
    original = sandbox_connect(username="alice", bank="albion", sync=False)
    assert connection_sync(connection=original, trigger=SyncRun.Trigger.MANUAL).outcome == SyncRun.Outcome.SUCCEEDED
    expected = Transaction.objects.filter(account__connection=original, removed_at=None).count()
    assert expected > 0
    original.next_sync_at = timezone.now() + timedelta(hours=1)
    original.save(update_fields=["next_sync_at"])
    clones = clone_connections(original, count)

    app.control.purge()
    workers = []
    logs = []
    # A queue of this test's own: the integration suite's shared worker (tests/integration/conftest.py), if an
    # earlier test started it, consumes the ordinary sync queue too and would take some of the tick.
    queue = f"fleet-{os.getpid()}"
    routes = app.conf.task_routes
    app.conf.task_routes = {**routes, SYNC_TASK: {"queue": queue}}
    app.amqp.flush_routes()
    app.amqp.router = app.amqp.Router(create_missing=True)
    for i in range(3):
        log = tmp_path / f"worker-{i}.log"
        logs.append(log)
        with open(log, "w") as out:
            workers.append(
                subprocess.Popen(
                    [CELERY, "-A", "aggregator.config", "worker", "--pool=threads", "--concurrency=4",
                     "-Q", queue, "-n", f"fleet-{i}-{os.getpid()}@localhost", "--loglevel=INFO",
                     "--without-gossip", "--without-mingle", "--without-heartbeat"],
                    cwd=ROOT,
                    # Pooled sessions, fewer than the threads: a sync borrows one between its bank calls.
                    env=_env(sandbox_banks, broker, DATABASE_POOL_SIZE="2"),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
    try:
        # The tick, by two dispatchers at once (two beats misconfigured without the lock): SKIP LOCKED claims.
        started = time.monotonic()
        first = connections_dispatch_due(limit=count * 2)
        second = connections_dispatch_due(limit=count * 2)
        assert len(first) == count and second == []
        ids = [c.pk for c in clones]
        _wait(
            lambda: (
                not SyncRun.objects.filter(
                    connection_id__in=ids, outcome__in=[SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING]
                ).exists()
            ),
            30 + count * 1.5,
            "the fleet to finish the tick",
        )
        wall = time.monotonic() - started
    finally:
        stopping = time.monotonic()
        for worker in workers:  # all three warm-shut down at once, not one after the other
            if worker.poll() is None:
                worker.terminate()
        for worker in workers:
            _stop(worker)
        print(f"\nworkers stopped in {time.monotonic() - stopping:.1f} s")
        app.control.purge()
        app.conf.task_routes = routes
        app.amqp.flush_routes()
        app.amqp.router = app.amqp.Router()

    runs = SyncRun.objects.filter(connection_id__in=ids)
    assert runs.count() == count
    assert set(runs.values_list("outcome", flat=True)) == {SyncRun.Outcome.SUCCEEDED}
    assert sorted(runs.values_list("connection_id", flat=True)) == sorted(ids)
    for connection in clones:
        assert Transaction.objects.filter(account__connection=connection, removed_at=None).count() == expected
    executed = [re.findall(r"connection_sync_task\[[0-9a-f-]+\] succeeded", log.read_text()) for log in logs]
    assert sum(len(e) for e in executed) == count  # each task ran once, on one of the workers
    assert sum(1 for e in executed if e) >= 2  # the work was shared
    print(
        f"\nfleet on {broker.split(':')[0]}: {count} connections, 3 workers x 4 threads, tick wall {wall:.1f} s,"
        f" {runs.count()} syncs succeeded, per worker {[len(e) for e in executed]}, {expected} rows each"
    )
    assert connections_dispatch_due(limit=count * 2) == []  # nothing due again in the same tick
