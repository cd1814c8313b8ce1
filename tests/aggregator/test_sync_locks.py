"""The sync lease: one sync per connection across workers, no database session held while waiting for a bank, a
crashed worker's lease lapses, and a worker whose lease passed on writes nothing."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection as db
from django.db import connections
from django.utils import timezone

from aggregator.models import SyncLease, SyncRun, Transaction
from aggregator.sync import locks
from aggregator.sync.locks import (
    SyncLeaseLost,
    connection_lock,
    connection_lock_free,
    lease_claim,
    lease_fence,
    lease_release,
    lease_renew,
)
from aggregator.sync.services import connection_sync
from tests.aggregator.sync_fakes import FakeWindowAdapter, fake_bank, make_connection, txn  # noqa: F401

# transaction=True: the lease is claimed in short transactions of its own, and other threads must see it.
pytestmark = pytest.mark.django_db(transaction=True)


def _lapse(connection_id: int) -> None:
    SyncLease.objects.filter(connection_id=connection_id).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_a_free_connection_is_claimed_and_a_second_claim_is_refused(fake_bank):  # noqa: F811
    connection = make_connection()
    first = lease_claim(connection_id=connection.pk)
    assert first is not None
    assert lease_claim(connection_id=connection.pk) is None
    assert connection_lock_free(connection_id=connection.pk) is False


def test_a_released_lease_can_be_claimed_again(fake_bank):  # noqa: F811
    connection = make_connection()
    lease_release(lease_claim(connection_id=connection.pk))
    assert connection_lock_free(connection_id=connection.pk) is True
    assert lease_claim(connection_id=connection.pk) is not None


def test_a_crashed_workers_lease_lapses_and_another_worker_takes_it(fake_bank):  # noqa: F811
    connection = make_connection()
    dead = lease_claim(connection_id=connection.pk, ttl=timedelta(seconds=1))
    assert lease_claim(connection_id=connection.pk) is None
    time.sleep(1.1)  # nobody renews it: its worker is gone

    assert connection_lock_free(connection_id=connection.pk) is True
    successor = lease_claim(connection_id=connection.pk)
    assert successor is not None and successor.owner != dead.owner
    assert lease_renew(dead) is False  # the dead worker, were it to wake up, no longer holds it
    assert lease_renew(successor) is True


def test_a_worker_whose_lease_passed_on_is_fenced_off_at_its_next_write(fake_bank):  # noqa: F811
    connection = make_connection()
    run = SyncRun.objects.create(connection=connection)
    with connection_lock(connection_id=connection.pk, sync_run=run) as acquired:
        assert acquired
        _lapse(connection.pk)
        assert lease_claim(connection_id=connection.pk) is not None  # a second worker took over
        with pytest.raises(SyncLeaseLost):
            lease_fence()
    assert connection_lock_free(connection_id=connection.pk) is False  # our release did not free theirs


def test_only_one_of_many_concurrent_claimants_gets_the_lease(fake_bank):  # noqa: F811
    connection = make_connection()
    _lapse_target = lease_claim(connection_id=connection.pk)
    _lapse(connection.pk)  # a lapsed row: the claimants race on the UPDATE path, and on INSERT after a delete
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        try:
            barrier.wait()
            results.append(lease_claim(connection_id=connection.pk) is not None)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert lease_renew(_lapse_target) is False


def test_the_heartbeat_keeps_a_long_sync_s_lease_alive(fake_bank, settings):  # noqa: F811
    settings.AGGREGATOR = {**settings.AGGREGATOR, "SYNC_LEASE_SECONDS": 0.6}
    connection = make_connection()
    run = SyncRun.objects.create(connection=connection)
    with connection_lock(connection_id=connection.pk, sync_run=run) as acquired:
        assert acquired
        time.sleep(1.5)  # more than twice the lease: only the heartbeat's renewals keep it
        assert connection_lock_free(connection_id=connection.pk) is False
        lease_fence()  # still ours
    assert not SyncLease.objects.filter(connection_id=connection.pk).exists()


def test_a_sync_holds_no_database_session_while_it_calls_the_bank(fake_bank, monkeypatch):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.put(txn("t1", day=1), txn("t2", day=2), txn("t3", day=3))
    connection = make_connection()
    open_during_calls: list[bool] = []
    original = fake_bank._maybe_fail

    def record(method: str) -> None:
        open_during_calls.append(db.connection is not None)
        original(method)

    monkeypatch.setattr(fake_bank, "_maybe_fail", record)

    run = connection_sync(connection=connection)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    assert len(open_during_calls) >= 3 and not any(open_during_calls)
    assert db.connection is None  # nor after the sync


def test_a_page_fetched_after_the_lease_passed_on_is_not_stored(fake_bank, monkeypatch):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.page_size = 1
    fake_bank.put(txn("t1", day=1), txn("t2", day=2))
    connection = make_connection()
    original = FakeWindowAdapter.iter_transactions

    def stall_then_serve(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        pages = original(self, *args, **kwargs)
        yield next(pages)
        # A stall longer than the lease: it lapses and another worker takes the connection over.
        _lapse(connection.pk)
        assert lease_claim(connection_id=connection.pk) is not None
        yield from pages

    monkeypatch.setattr(FakeWindowAdapter, "iter_transactions", stall_then_serve)

    run = connection_sync(connection=connection)

    assert (run.outcome, run.error_code) == (SyncRun.Outcome.FAILED, "lease_lost")
    stored = Transaction.objects.filter(account__connection=connection)
    assert list(stored.values_list("provider_transaction_id", flat=True)) == ["t1"]


def test_the_lease_is_released_when_the_sync_ends(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    connection = make_connection()
    assert connection_sync(connection=connection).outcome == SyncRun.Outcome.SUCCEEDED
    assert not SyncLease.objects.filter(connection_id=connection.pk).exists()
    assert locks._held.get() is None


def test_a_worker_whose_lease_passed_on_before_it_finished_does_not_record_a_success(fake_bank, monkeypatch):  # noqa: F811
    from aggregator.sync import engine

    fake_bank.add_account("acc-1")
    connection = make_connection()
    original = engine._succeed

    def taken_over_then_succeed(*args, **kwargs):  # type: ignore[no-untyped-def]
        _lapse(connection.pk)
        assert lease_claim(connection_id=connection.pk) is not None  # another worker took over
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "_succeed", taken_over_then_succeed)

    run = connection_sync(connection=connection)

    assert (run.outcome, run.error_code) == (SyncRun.Outcome.FAILED, "lease_lost")
    connection.refresh_from_db()
    assert connection.last_synced_at is None
