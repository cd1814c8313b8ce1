"""The transactions table partitioned by hash of account (aggregator/migrations/0013, PostgreSQL only): the
migration keeps every row and id both ways, and the hot queries read one partition (EXPLAIN)."""

from __future__ import annotations

import datetime as dt
import importlib
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.db import transaction as db_transaction
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aggregator.api.selectors import TransactionFilters, transaction_delta_for_consent, transaction_page_for_consent
from aggregator.models import Transaction
from aggregator.sync.upsert import postgresql as pg_upsert
from tests.api.factories import AuthorisedConsentFactory
from tests.factories import AccountFactory, TransactionFactory

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="native partitioning: PostgreSQL only"),
]

MIGRATION = importlib.import_module("aggregator.migrations.0013_transaction_partitioned")
BEFORE = [("aggregator", "0012_sync_lease")]
PARTITION_NAME = re.compile(r"aggregator_transaction_p\d\d")


def _shape() -> tuple[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = 'aggregator_transaction'::regclass")
        (kind,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'aggregator_transaction'::regclass")
        (partitions,) = cursor.fetchone()
    return kind, partitions


def _rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, public_id, account_id, provider_transaction_id, amount FROM aggregator_transaction ORDER BY id"
        )
        return cursor.fetchall()


def _partition_of(account_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT tableoid::regclass::text FROM aggregator_transaction WHERE account_id = %s", [account_id]
        )
        return cursor.fetchone()[0]


def _scanned(sql: str, params: object = None) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return set(PARTITION_NAME.findall(plan))


def _migrate(targets: list[tuple[str, str]] | None = None) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


@pytest.mark.django_db
def test_the_table_is_partitioned_by_hash_of_account_into_sixteen_partitions() -> None:
    assert _shape() == ("p", MIGRATION.PARTITIONS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_partkeydef('aggregator_transaction'::regclass)")
        assert cursor.fetchone()[0] == "HASH (account_id)"


@pytest.mark.django_db
def test_the_primary_key_and_public_id_unique_include_the_account() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'aggregator_transaction'::regclass AND contype IN ('p', 'u') ORDER BY conname"
        )
        assert cursor.fetchall() == [
            ("aggregator_transaction_pkey", "PRIMARY KEY (id, account_id)"),
            ("aggregator_transaction_public_id_key", "UNIQUE (public_id, account_id)"),
            ("transaction_unique_per_account", "UNIQUE (account_id, provider_transaction_id)"),
        ]


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_every_row_and_id_both_ways_and_ids_continue() -> None:
    account, other = AccountFactory(), AccountFactory()
    for n in range(12):
        TransactionFactory(account=account if n % 2 else other, amount=Decimal(f"-{n}.25"))
    # A deleted highest row: the sequence must go on past it, not reuse its id.
    gone = TransactionFactory(account=account)
    gone_id = gone.pk
    gone.delete()
    try:
        _migrate(BEFORE)
        assert _shape() == ("r", 0)
        before = _rows()
        assert len(before) == 12
        with connection.cursor() as cursor:  # a row written while unpartitioned, by the old schema's sequence
            cursor.execute(
                "INSERT INTO aggregator_transaction (public_id, account_id, provider_transaction_id, status, "
                "booking_date, amount, currency, description, merchant_name, category, counterparty_name, "
                "bank_transaction_code, pending_transaction_id, merchant_category_code, raw, created_at, updated_at) "
                "VALUES (gen_random_uuid(), %s, 'old-schema', 'booked', '2026-03-01', -1.5, 'GBP', '', '', '', '', "
                "'', '', '', '{}', now(), now()) RETURNING id",
                [account.pk],
            )
            (old_schema_id,) = cursor.fetchone()
        assert old_schema_id > gone_id
        before = _rows()
    finally:
        _migrate()
    assert _shape() == ("p", MIGRATION.PARTITIONS)
    assert _rows() == before
    new = TransactionFactory(account=account)
    assert new.pk > old_schema_id


@pytest.mark.django_db
def test_an_account_keyset_page_reads_one_partition() -> None:
    account = AccountFactory()
    consent = AuthorisedConsentFactory(user=account.connection.user, accounts=[account])
    for n in range(6):
        TransactionFactory(account=account, booking_date=dt.date(2026, 2, 1) + dt.timedelta(days=n))
    for other in AccountFactory.create_batch(20):  # rows spread over the other partitions
        TransactionFactory(account=other)
    first = transaction_page_for_consent(
        consent=consent, account_id=account.public_id, filters=TransactionFilters(), page_size=2, cursor=None
    )
    with CaptureQueriesContext(connection) as queries:
        transaction_page_for_consent(
            consent=consent, account_id=account.public_id, filters=TransactionFilters(), page_size=2,
            cursor=first.next_cursor,
        )  # fmt: skip
    pages = [q["sql"] for q in queries if 'FROM "aggregator_transaction"' in q["sql"]]
    assert pages, "the page query reads aggregator_transaction"
    for sql in pages:
        assert _scanned(sql) == {_partition_of(account.pk)}


@pytest.mark.django_db
def test_the_delta_feed_reads_only_the_consented_accounts_partitions() -> None:
    account = AccountFactory()
    consent = AuthorisedConsentFactory(user=account.connection.user, accounts=[account])
    TransactionFactory.create_batch(3, account=account)
    for other in AccountFactory.create_batch(20):
        TransactionFactory(account=other)
    with CaptureQueriesContext(connection) as queries:
        page, _ = transaction_delta_for_consent(consent=consent, cursor=None, count=10)
    assert len(page.added) == 3
    feeds = [q["sql"] for q in queries if 'FROM "aggregator_transaction"' in q["sql"]]
    assert feeds, "the feed query reads aggregator_transaction"
    for sql in feeds:
        assert _scanned(sql) == {_partition_of(account.pk)}


def _stage_one(account_id: int) -> None:
    """Fill the upsert's staging table with one row of ``account_id``, as a batch does."""
    sql = pg_upsert.statements()
    with connection.cursor() as cursor:
        cursor.execute(sql.prepare.replace("{synchronous_commit}", "on"))
        stage = re.search(r"agg_txn_stage_\w+", sql.prepare).group(0)
        cursor.execute(
            f"INSERT INTO {stage} (account_id, provider_transaction_id, status, booking_date, amount, currency, "
            "description, merchant_name, category, counterparty_name, bank_transaction_code, pending_transaction_id, "
            "merchant_category_code, raw) VALUES (%s, 'p-1', 'booked', '2026-03-01', -1, 'GBP', '', '', '', '', '', "
            "'', '', '{}')",
            [account_id],
        )


@pytest.mark.django_db
def test_the_upsert_lookup_of_unchanged_rows_reads_one_partition() -> None:
    account = AccountFactory()
    TransactionFactory(account=account, provider_transaction_id="p-1")
    for other in AccountFactory.create_batch(20):
        TransactionFactory(account=other)
    with db_transaction.atomic():
        _stage_one(account.pk)
        scanned = _scanned(pg_upsert.statements().drop_unchanged, {"accounts": [account.pk]})
    assert scanned == {_partition_of(account.pk)}


@pytest.mark.django_db
def test_marking_rows_removed_reads_and_updates_one_partition() -> None:
    account = AccountFactory()
    TransactionFactory(account=account, provider_transaction_id="p-1", status=Transaction.Status.PENDING)
    for other in AccountFactory.create_batch(20):
        TransactionFactory(account=other)
    params = {"now": timezone.now(), "accounts": [account.pk], "ids": ["p-1"]}
    assert _scanned(pg_upsert.mark_removed_sql(True), params) == {_partition_of(account.pk)}
    assert pg_upsert.mark_removed([account.pk], ["p-1"], timezone.now(), pending_only=True) == 1
