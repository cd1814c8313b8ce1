"""The sync engine against an in-memory bank (no network): exact, idempotent, reconciled, counted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from aggregator.connections.credentials import credentials_load, credentials_store
from aggregator.models import Account, Balance, Connection, SyncRun, Transaction
from aggregator.sync.accounts import accounts_upsert
from aggregator.sync.services import connection_sync, sync_request
from aggregator.sync.upsert import TXN_COLUMNS
from providers.base import (
    AccessTokenExpiredError,
    AccountData,
    Credentials,
    PermanentProviderError,
    RateLimitedError,
    ReauthRequiredError,
    TransientProviderError,
)
from tests.aggregator.sync_fakes import (  # noqa: F401
    FakeBank,
    FakeCursorAdapter,
    FakeWindowAdapter,
    fake_bank,
    make_connection,
    txn,
)

# transaction=True: the engine commits page by page and refuses to run inside a test's atomic block.
pytestmark = pytest.mark.django_db(transaction=True)


def _rows(connection: Connection) -> dict[str, dict]:
    """Every stored transaction of the connection, by provider id, with its data and bookkeeping columns."""
    fields = ["provider_transaction_id", "account__provider_account_id", *TXN_COLUMNS, "removed_at", "updated_at"]
    qs = Transaction.objects.filter(account__connection=connection).values(*fields)
    return {row["provider_transaction_id"]: row for row in qs}


def _live_ids(connection: Connection) -> set[str]:
    return set(
        Transaction.objects.filter(account__connection=connection, removed_at__isnull=True).values_list(
            "provider_transaction_id", flat=True
        )
    )


def _counts(run: SyncRun) -> tuple[int, int, int]:
    return run.added_count, run.modified_count, run.removed_count


@pytest.fixture
def alice_bank(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.add_account("acc-2", currency="EUR")
    fake_bank.put(
        txn("t1", day=1, amount="-12.34", merchant_name="Tesco", category="groceries"),
        txn("t2", day=2, amount="2500.00", description="SALARY", counterparty_name="ACME Ltd"),
        txn("t3", day=3, amount="-0.01", status="pending", booked_at=None),
        txn("e1", account="acc-2", day=2, amount="-99.9999", currency="EUR"),
    )
    return fake_bank


# --- exactness and idempotency ----------------------------------------------------------------------------
def test_a_first_sync_stores_every_field_the_bank_served(alice_bank):
    connection = make_connection()
    run = connection_sync(connection=connection)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_detail
    assert (run.accounts_count, *_counts(run)) == (2, 4, 0, 0)
    assert run.started_at and run.finished_at and run.finished_at >= run.started_at
    rows = _rows(connection)
    for account_txns in alice_bank.transactions.values():
        for item in account_txns.values():
            row = rows[item.provider_transaction_id]
            assert row["account__provider_account_id"] == item.provider_account_id
            for column in TXN_COLUMNS:
                expected = dict(item.raw) if column == "raw" else getattr(item, column)
                assert row[column] == expected, column
            assert row["removed_at"] is None
    assert rows["e1"]["amount"] == Decimal("-99.9999")
    assert isinstance(rows["t1"]["amount"], Decimal)
    balance = Balance.objects.get(account__provider_account_id="acc-1")
    assert (balance.type, balance.amount, balance.currency) == ("booked", Decimal("100.00"), "GBP")
    connection.refresh_from_db()
    assert connection.last_synced_at is not None and connection.next_sync_at > timezone.now()


def test_a_second_sync_writes_nothing_and_keeps_updated_at(alice_bank):
    connection = make_connection()
    connection_sync(connection=connection)
    before = _rows(connection)
    balances_before = list(Balance.objects.values_list("pk", "updated_at"))

    run = connection_sync(connection=connection)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    assert _counts(run) == (0, 0, 0)
    assert _rows(connection) == before
    assert list(Balance.objects.values_list("pk", "updated_at")) == balances_before


def test_a_changed_transaction_is_counted_as_modified_and_only_it_is_rewritten(alice_bank):
    connection = make_connection()
    connection_sync(connection=connection)
    before = _rows(connection)
    alice_bank.put(txn("t2", day=2, amount="2500.00", description="SALARY DECEMBER", counterparty_name="ACME Ltd"))

    run = connection_sync(connection=connection)

    assert _counts(run) == (0, 1, 0)
    after = _rows(connection)
    assert after["t2"]["description"] == "SALARY DECEMBER"
    assert after["t2"]["updated_at"] > before["t2"]["updated_at"]
    assert {k: v for k, v in after.items() if k != "t2"} == {k: v for k, v in before.items() if k != "t2"}
    assert Transaction.objects.filter(provider_transaction_id="t2").count() == 1


def test_a_sync_that_crashed_mid_way_and_ran_again_leaves_exactly_the_clean_rows(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.put(*(txn(f"t{i}", day=i) for i in range(1, 8)))
    fake_bank.fail_after_pages, fake_bank.fail_with = 2, TransientProviderError("connection reset")
    connection = make_connection()

    with pytest.raises(TransientProviderError):
        connection_sync(connection=connection)
    assert Transaction.objects.count() == 4  # two pages of two were committed
    failed = SyncRun.objects.get()
    assert (failed.outcome, failed.error_code) == (SyncRun.Outcome.FAILED, "transient")

    fake_bank.fail_after_pages = None
    run = connection_sync(connection=connection, sync_run=failed)  # the task's retry: the same SyncRun

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    assert _counts(run) == (7, 0, 0)  # counted once across both attempts
    assert _live_ids(connection) == {f"t{i}" for i in range(1, 8)}
    assert Transaction.objects.count() == 7


def _data_rows(connection: Connection) -> dict[str, dict]:
    """The rows without their bookkeeping timestamps (to compare two connections' data)."""
    return {
        tid: {k: v for k, v in row.items() if k not in ("updated_at", "removed_at")} | {"live": not row["removed_at"]}
        for tid, row in _rows(connection).items()
    }


@pytest.mark.parametrize("provider", ["fake_window", "fake_cursor"])
def test_a_task_redelivered_after_a_worker_crash_mid_way_leaves_the_same_rows_as_one_clean_sync(fake_bank, provider):  # noqa: F811
    """A crash that is not a bank error (the worker died: a bug, a time limit, a lost database) on the second
    account, then ``acks_late`` redelivery of the same task: the rows equal those of a sync that never crashed."""
    from aggregator.tasks import connection_sync_task

    fake_bank.add_account("acc-1")
    fake_bank.add_account("acc-2")
    fake_bank.put(
        *(txn(f"a{i}", day=i) for i in range(1, 6)), *(txn(f"b{i}", account="acc-2", day=i) for i in range(1, 6))
    )
    fake_bank.put(txn("p1", account="acc-2", day=6, status="pending", booked_at=None))
    clean = make_connection(provider)
    assert connection_sync(connection=clean).outcome == SyncRun.Outcome.SUCCEEDED

    crashed = make_connection(provider)
    run = SyncRun.objects.create(connection=crashed, trigger=SyncRun.Trigger.SCHEDULED)
    fake_bank.fail_with = SystemExit("worker killed")
    adapter_cls = FakeWindowAdapter if provider == "fake_window" else FakeCursorAdapter
    real_iter = adapter_cls.iter_transactions

    def iter_transactions(self, credentials, account, **kwargs):  # type: ignore[no-untyped-def]
        # window: one listing per account, crash after acc-2's first page; cursor: one listing, after 4 pages
        if provider == "fake_cursor":
            fake_bank.fail_after_pages = 4
        elif account.provider_account_id == "acc-2":
            fake_bank.fail_after_pages = 1
        return real_iter(self, credentials, account, **kwargs)

    with mock.patch.object(adapter_cls, "iter_transactions", iter_transactions), pytest.raises(SystemExit):
        connection_sync_task.apply(args=[run.pk], throw=True)
    run.refresh_from_db()
    stored = Transaction.objects.filter(account__connection=crashed).count()
    assert run.outcome == SyncRun.Outcome.FAILED and 0 < stored < 11

    fake_bank.fail_after_pages = None
    assert connection_sync_task.apply(args=[run.pk]).get() == SyncRun.Outcome.SUCCEEDED  # the redelivery

    run.refresh_from_db()
    assert _data_rows(crashed) == _data_rows(clean)
    assert _counts(run) == (11, 0, 0)  # each row counted once across the two attempts
    crashed.refresh_from_db()
    assert "progress" not in crashed.sync_state


# --- reconciliation -------------------------------------------------------------------------------------
def test_a_pending_item_that_posts_under_a_new_id_is_replaced_and_linked(alice_bank):
    connection = make_connection()
    connection_sync(connection=connection)
    alice_bank.post("acc-1", "t3", "t3-booked", day=4)

    run = connection_sync(connection=connection)

    assert _counts(run) == (1, 0, 1)
    pending = Transaction.objects.get(provider_transaction_id="t3")
    booked = Transaction.objects.get(provider_transaction_id="t3-booked")
    assert pending.removed_at is not None and pending.status == "pending"
    assert booked.removed_at is None and booked.pending_transaction_id == "t3"
    assert _live_ids(connection) == {"t1", "t2", "t3-booked", "e1"}


def test_a_posted_pending_item_is_removed_through_its_link_even_if_the_bank_still_serves_it_elsewhere(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.put(txn("p1", day=1, status="pending"))
    connection = make_connection()
    connection_sync(connection=connection)
    # The bank books it under a new id but (a bug at the bank) the pending one sits outside the next window.
    booked = fake_bank.post("acc-1", "p1", "b1", day=30)

    run = connection_sync(connection=connection)

    assert booked.pending_transaction_id == "p1"
    assert _counts(run) == (1, 0, 1)
    assert _live_ids(connection) == {"b1"}


def test_a_pending_item_that_vanishes_from_the_window_is_marked_removed(alice_bank):
    connection = make_connection()
    connection_sync(connection=connection)
    alice_bank.drop("acc-1", "t3")

    run = connection_sync(connection=connection)

    assert _counts(run) == (0, 0, 1)
    assert Transaction.objects.get(provider_transaction_id="t3").removed_at is not None
    # and it stays removed, unwritten, on the next sync
    assert _counts(connection_sync(connection=connection)) == (0, 0, 0)


def test_a_removed_pending_item_that_the_bank_serves_again_comes_back(alice_bank):
    connection = make_connection()
    connection_sync(connection=connection)
    dropped = alice_bank.transactions["acc-1"]["t3"]
    alice_bank.drop("acc-1", "t3")
    connection_sync(connection=connection)
    alice_bank.put(dropped)

    run = connection_sync(connection=connection)

    assert _counts(run) == (0, 1, 0)
    assert "t3" in _live_ids(connection)


def test_the_next_window_starts_an_overlap_before_the_latest_booking_date(fake_bank, settings):  # noqa: F811
    settings.AGGREGATOR = {**settings.AGGREGATOR, "SYNC_OVERLAP_DAYS": 7}
    fake_bank.add_account("acc-1")
    fake_bank.put(txn("t1", day=1), txn("t20", day=20))
    connection = make_connection()
    connection_sync(connection=connection)
    # A late-posting transaction dated inside the overlap appears after the first sync.
    fake_bank.put(txn("late", day=15))

    run = connection_sync(connection=connection)

    windows = [call for call in fake_bank.calls if call[0] == "window"]
    assert windows[0][2] is None  # first sync: the full history the bank allows
    assert windows[1][2] == dt.date(2026, 1, 20) - dt.timedelta(days=7)
    assert _counts(run) == (1, 0, 0)
    assert "late" in _live_ids(connection)


def test_the_window_reaches_back_to_the_oldest_live_pending_item(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.put(txn("old-pending", day=1, status="pending"), txn("t30", day=30))
    connection = make_connection()
    connection_sync(connection=connection)

    connection_sync(connection=connection)

    assert [c for c in fake_bank.calls if c[0] == "window"][1][2] == dt.date(2026, 1, 1)


def test_the_cursor_dialect_resumes_from_the_cursor_saved_with_the_last_committed_page(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.add_account("acc-2")
    fake_bank.put(*(txn(f"t{i}", account="acc-1" if i % 2 else "acc-2", day=i) for i in range(1, 8)))
    fake_bank.fail_after_pages, fake_bank.fail_with = 2, TransientProviderError("timeout")
    connection = make_connection("fake_cursor")

    with pytest.raises(TransientProviderError):
        connection_sync(connection=connection)
    connection.refresh_from_db()
    assert connection.sync_cursor == "4"
    assert Transaction.objects.count() == 4

    fake_bank.fail_after_pages = None
    run = connection_sync(connection=connection)

    assert [c for c in fake_bank.calls if c[0] == "cursor"][-1] == ("cursor", "4")
    assert _counts(run) == (3, 0, 0)
    assert _live_ids(connection) == {f"t{i}" for i in range(1, 8)}
    assert Account.objects.get(provider_account_id="acc-2").transactions.count() == 3


def test_the_cursor_dialect_applies_removals_and_pending_links(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.put(txn("p1", status="pending"), txn("p2", status="pending"), txn("t1"))
    connection = make_connection("fake_cursor")
    connection_sync(connection=connection)
    fake_bank.post("acc-1", "p1", "b1")
    fake_bank.drop("acc-1", "p2")

    run = connection_sync(connection=connection)

    assert _counts(run) == (1, 0, 2)
    assert _live_ids(connection) == {"t1", "b1"}
    assert _counts(connection_sync(connection=connection)) == (0, 0, 0)


def test_a_transaction_for_an_account_the_bank_did_not_list_is_a_permanent_error(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.put(txn("t1", account="ghost"))
    connection = make_connection("fake_cursor")

    run = connection_sync(connection=connection)

    assert (run.outcome, run.error_code) == (SyncRun.Outcome.FAILED, "bad_account")
    assert Transaction.objects.count() == 0


def test_a_float_amount_is_refused_and_nothing_of_the_page_is_stored(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.put(txn("ok"), txn("bad", amount="1.00"))
    object.__setattr__(fake_bank.transactions["acc-1"]["bad"], "amount", 1.0)
    connection = make_connection()

    run = connection_sync(connection=connection)

    assert (run.outcome, run.error_code) == (SyncRun.Outcome.FAILED, "permanent")
    assert "amount" in run.error_detail
    assert Transaction.objects.count() == 0


# --- accounts -------------------------------------------------------------------------------------------
def test_accounts_upsert_creates_updates_removes_and_restores_accounts(django_assert_max_num_queries):
    connection = make_connection()
    a = AccountData(provider_account_id="a", display_name="Main", type="current", currency="GBP", iban="GB00X")
    b = AccountData(provider_account_id="b", display_name="Card", type="credit_card", currency="GBP")

    first = accounts_upsert(connection=connection, accounts=[a, b])
    assert [x.provider_account_id for x in first] == ["a", "b"] and all(x.pk for x in first)
    stamp = Account.objects.get(provider_account_id="a").updated_at

    with django_assert_max_num_queries(4):
        again = accounts_upsert(connection=connection, accounts=[a, b])
    assert [x.pk for x in again] == [x.pk for x in first]
    assert Account.objects.get(provider_account_id="a").updated_at == stamp

    accounts_upsert(connection=connection, accounts=[a])
    assert Account.objects.get(provider_account_id="b").removed_at is not None
    renamed = AccountData(provider_account_id="b", display_name="Card 2", type="weird", currency="GBP")
    accounts_upsert(connection=connection, accounts=[a, renamed])
    card = Account.objects.get(provider_account_id="b")
    assert (card.removed_at, card.display_name, card.type) == (None, "Card 2", "other")
    assert Account.objects.count() == 2


# --- sync_request -----------------------------------------------------------------------------------------
def test_sync_request_queues_a_run_and_enqueues_the_task_only_on_commit():
    from django.db import transaction

    connection = make_connection()
    with mock.patch("aggregator.sync.services.enqueue_connection_sync") as enqueue:
        with transaction.atomic():
            run = sync_request(connection=connection, trigger="connect", countdown=5)
            assert enqueue.call_count == 0
        enqueue.assert_called_once_with(sync_run_id=run.pk, countdown=5)
        with pytest.raises(RuntimeError), transaction.atomic():
            sync_request(connection=connection, trigger="connect")
            raise RuntimeError("rolled back")
        assert enqueue.call_count == 1
    run.refresh_from_db()
    assert (run.outcome, run.trigger) == (SyncRun.Outcome.QUEUED, SyncRun.Trigger.CONNECT)
    assert SyncRun.objects.count() == 1


def test_sync_request_refuses_an_unknown_trigger():
    with pytest.raises(ValueError, match="unknown sync trigger"):
        sync_request(connection=make_connection(), trigger="whenever")


# --- credentials and errors ---------------------------------------------------------------------------------
def test_expired_credentials_are_refreshed_and_the_rotated_ones_stored_encrypted_before_fetching(alice_bank):
    connection = make_connection()
    credentials_store(
        connection=connection,
        credentials=Credentials(
            access_token="old", refresh_token="old-refresh", expires_at=timezone.now() - dt.timedelta(minutes=1)
        ),
    )
    alice_bank.errors["list_accounts"] = TransientProviderError("bank down")

    with pytest.raises(TransientProviderError):
        connection_sync(connection=connection)

    connection.refresh_from_db()
    assert alice_bank.refreshed == 1
    assert credentials_load(connection=connection).refresh_token == "refresh-1"
    assert "refresh-1" not in connection.encrypted_credentials


def test_an_access_token_refused_mid_sync_is_refreshed_once_and_the_sync_completes(alice_bank):
    connection = make_connection()
    alice_bank.errors["get_balances"] = AccessTokenExpiredError("token expired")

    run = connection_sync(connection=connection)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    assert alice_bank.refreshed == 1
    assert credentials_load(connection=connection).access_token == "access-1"


def test_reauth_required_pauses_the_connection_and_announces_it(alice_bank, published_events):
    connection = make_connection()
    alice_bank.errors["refresh"] = ReauthRequiredError("refresh token refused")
    alice_bank.errors["list_accounts"] = AccessTokenExpiredError("expired")

    run = connection_sync(connection=connection)

    assert (run.outcome, run.error_code) == (SyncRun.Outcome.REAUTH_REQUIRED, "reauth_required")
    connection.refresh_from_db()
    assert connection.status == Connection.Status.REAUTH_REQUIRED
    assert connection.next_sync_at is None
    announced = [e for e in published_events if e.name == "connection.reauth_required"]
    assert [e.subject_id for e in announced] == [str(connection.public_id)]
    # and later syncs do not even call the bank
    calls = len(alice_bank.calls)
    assert connection_sync(connection=connection).error_code == "connection_reauth_required"
    assert len(alice_bank.calls) == calls


def test_a_transient_error_is_recorded_and_re_raised_for_the_task_to_retry(alice_bank):
    connection = make_connection()
    alice_bank.errors["iter_transactions"] = TransientProviderError("503 from the bank")

    with pytest.raises(TransientProviderError):
        connection_sync(connection=connection)

    run = SyncRun.objects.get()
    assert (run.outcome, run.error_code, run.error_detail) == (SyncRun.Outcome.FAILED, "transient", "503 from the bank")
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE
    assert "503" in connection.last_error


def test_a_rate_limit_is_recorded_as_rate_limited(alice_bank):
    connection = make_connection()
    alice_bank.errors["list_accounts"] = RateLimitedError("slow down", retry_after=120)

    with pytest.raises(RateLimitedError):
        connection_sync(connection=connection)

    assert SyncRun.objects.get().outcome == SyncRun.Outcome.RATE_LIMITED


def test_a_permanent_error_sets_the_connection_in_error_until_a_sync_succeeds(alice_bank):
    connection = make_connection()
    alice_bank.errors["list_accounts"] = PermanentProviderError("consent scope too narrow", code="forbidden")

    run = connection_sync(connection=connection)

    assert (run.outcome, run.error_code) == (SyncRun.Outcome.FAILED, "forbidden")
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ERROR and connection.next_sync_at is not None
    assert connection_sync(connection=connection).outcome == SyncRun.Outcome.SUCCEEDED
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (Connection.Status.ACTIVE, "")


def test_sync_completed_is_announced_after_a_successful_sync(alice_bank, published_events):
    connection = make_connection()
    run = connection_sync(connection=connection)
    announced = [e for e in published_events if e.name == "sync.completed"]
    assert [e.subject_id for e in announced] == [str(run.public_id)]
    assert announced[0].data["counts"] == {
        "added": run.added_count,
        "modified": run.modified_count,
        "removed": run.removed_count,
    }


def test_a_disconnected_connection_is_skipped_without_calling_the_bank(alice_bank):
    connection = make_connection(status=Connection.Status.DISCONNECTED)

    run = connection_sync(connection=connection)

    assert (run.outcome, run.error_code) == (SyncRun.Outcome.SKIPPED, "connection_disconnected")
    assert alice_bank.calls == []


# --- one sync at a time ---------------------------------------------------------------------------------
def test_a_second_concurrent_sync_of_the_same_connection_is_skipped(alice_bank):
    from aggregator.sync.locks import lease_claim, lease_release

    connection = make_connection()
    other = lease_claim(connection_id=connection.pk)  # another worker is syncing it
    assert other is not None

    run = connection_sync(connection=connection)

    assert (run.outcome, run.error_code) == (SyncRun.Outcome.SKIPPED, "already_running")
    assert alice_bank.calls == []
    lease_release(other)
    assert connection_sync(connection=connection).outcome == SyncRun.Outcome.SUCCEEDED


def test_a_second_delivery_of_a_run_under_way_in_another_worker_leaves_that_run_alone(alice_bank, monkeypatch):
    """A redelivered or reaped task of the run another worker is running must not mark it skipped (issue 17)."""
    import contextlib

    from aggregator.sync import engine

    connection = make_connection()
    started = timezone.now()
    run = SyncRun.objects.create(connection=connection, outcome=SyncRun.Outcome.RUNNING, started_at=started)
    monkeypatch.setattr(engine, "connection_lock", lambda **kwargs: contextlib.nullcontext(False))

    returned = connection_sync(connection=connection, sync_run=SyncRun.objects.get(pk=run.pk))

    run.refresh_from_db()
    assert (returned.outcome, run.outcome, run.error_code, run.finished_at) == ("running", "running", "", None)
    assert alice_bank.calls == []


def test_a_stale_running_sync_left_by_a_dead_worker_does_not_block_forever(alice_bank):
    connection = make_connection()
    SyncRun.objects.create(
        connection=connection, outcome=SyncRun.Outcome.RUNNING, started_at=timezone.now() - dt.timedelta(days=1)
    )

    assert connection_sync(connection=connection).outcome == SyncRun.Outcome.SUCCEEDED


def test_the_engine_refuses_to_run_inside_a_transaction(alice_bank):
    from django.db import transaction

    connection = make_connection()
    with pytest.raises(RuntimeError, match="outside a transaction"), transaction.atomic():
        connection_sync(connection=connection)


def test_fake_bank_fixture_is_isolated(fake_bank):  # noqa: F811
    assert FakeBank.current is fake_bank and fake_bank.calls == []


def test_a_progress_mark_sets_its_own_key_and_keeps_the_others_as_stored():
    from aggregator.sync.progress import sync_state_set

    connection = make_connection()
    Connection.objects.filter(pk=connection.pk).update(sync_state={"cursors": {"acc-1": "c-7"}})
    connection.sync_state = {}  # a stale copy: the statement must not write it back
    sync_state_set(connection, "progress", {"run": 7, "done": ["balances:acc-1"]})
    stored = Connection.objects.get(pk=connection.pk).sync_state
    assert stored == {"cursors": {"acc-1": "c-7"}, "progress": {"run": 7, "done": ["balances:acc-1"]}}
    sync_state_set(connection, "progress", {"run": 7, "done": ["balances:acc-1", "transactions:acc-1"]})
    assert Connection.objects.get(pk=connection.pk).sync_state["progress"]["done"] == [
        "balances:acc-1",
        "transactions:acc-1",
    ]
    assert connection.sync_state["progress"]["done"][-1] == "transactions:acc-1"  # mirrored on the instance
