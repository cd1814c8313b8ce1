"""The bulk writers of the sync engine (``aggregator.sync.upsert``), on whichever database the run uses.

The PostgreSQL path (COPY into a staging table, drop unchanged rows, ON CONFLICT merge) and the SQLite path
(multi-row INSERT … ON CONFLICT) must agree on every count and every stored value.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from aggregator.models import Transaction
from aggregator.sync.upsert import TXN_COLUMNS, transactions_mark_removed, transactions_upsert
from providers.base import PermanentProviderError
from tests.aggregator.sync_fakes import txn
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)
T2 = T0 + dt.timedelta(hours=2)


def _stored(account) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    fields = ["provider_transaction_id", "public_id", *TXN_COLUMNS, "removed_at", "created_at", "updated_at"]
    return {r["provider_transaction_id"]: r for r in Transaction.objects.filter(account=account).values(*fields)}


def _counts(result) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    return result.added, result.modified


def test_new_rows_are_inserted_with_every_field_and_a_fresh_public_id():
    account = AccountFactory()
    items = [
        txn("t1", amount="-12.34", merchant_name="Tesco", category="groceries", counterparty_name="Tesco plc"),
        txn("t2", amount="2500.00", status="pending", booked_at=None, value_date=None, bank_transaction_code="X"),
        txn("t3", pending_transaction_id="p3", raw={"id": "t3", "nested": {"b": [1, 2], "a": None}}),
    ]
    result = transactions_upsert(rows=[(account.pk, t) for t in items], now=T0)

    assert _counts(result) == (3, 0)
    rows = _stored(account)
    for item in items:
        row = rows[item.provider_transaction_id]
        for column in TXN_COLUMNS:
            assert row[column] == (dict(item.raw) if column == "raw" else getattr(item, column)), column
        assert (row["removed_at"], row["created_at"], row["updated_at"]) == (None, T0, T0)
    assert len({r["public_id"] for r in rows.values()}) == 3
    assert all(isinstance(r["public_id"], uuid.UUID) for r in rows.values())


def test_upserting_the_same_rows_again_writes_nothing():
    account = AccountFactory()
    items = [txn(f"t{i}", day=i, raw={"id": f"t{i}", "n": i}) for i in range(1, 8)]
    transactions_upsert(rows=[(account.pk, t) for t in items], now=T0)
    before = _stored(account)

    result = transactions_upsert(rows=[(account.pk, t) for t in items], now=T1)

    assert _counts(result) == (0, 0)
    assert _stored(account) == before  # updated_at untouched


@pytest.mark.parametrize(
    "change",
    [
        {"amount": Decimal("-10.01")},
        {"status": "pending"},
        {"description": "another text"},
        {"booked_at": None},
        {"value_date": dt.date(2026, 3, 1)},
        {"pending_transaction_id": "p-1"},
        {"raw": {"id": "t1", "extra": True}},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_changed_field_updates_only_that_row(change):
    account = AccountFactory()
    transactions_upsert(rows=[(account.pk, txn("t1")), (account.pk, txn("t2"))], now=T0)

    result = transactions_upsert(rows=[(account.pk, txn("t1", **change)), (account.pk, txn("t2"))], now=T1)

    assert _counts(result) == (0, 1)
    rows = _stored(account)
    field, value = next(iter(change.items()))
    assert rows["t1"][field] == value
    assert (rows["t1"]["created_at"], rows["t1"]["updated_at"]) == (T0, T1)
    assert rows["t2"]["updated_at"] == T0


def test_a_removed_row_served_again_is_alive_and_counted_as_modified():
    account = AccountFactory()
    transactions_upsert(rows=[(account.pk, txn("p1", status="pending"))], now=T0)
    assert transactions_mark_removed(account_ids=[account.pk], provider_ids=["p1"], now=T1) == 1

    result = transactions_upsert(rows=[(account.pk, txn("p1", status="pending"))], now=T2)

    assert _counts(result) == (0, 1)
    row = _stored(account)["p1"]
    assert (row["removed_at"], row["updated_at"]) == (None, T2)


def test_new_changed_and_unchanged_rows_in_one_batch_are_counted_apart():
    account = AccountFactory()
    transactions_upsert(rows=[(account.pk, txn("a")), (account.pk, txn("b"))], now=T0)

    result = transactions_upsert(
        rows=[(account.pk, txn("a")), (account.pk, txn("b", amount="-1.00")), (account.pk, txn("c"))], now=T1
    )

    assert _counts(result) == (1, 1)
    assert {pid: r["updated_at"] for pid, r in _stored(account).items()} == {"a": T0, "b": T1, "c": T1}


def test_a_key_repeated_in_one_call_is_stored_once_with_its_last_values():
    account = AccountFactory()
    result = transactions_upsert(
        rows=[(account.pk, txn("t1", amount="-1.00")), (account.pk, txn("t1", amount="-2.00"))], now=T0
    )

    assert _counts(result) == (1, 0)
    assert _stored(account)["t1"]["amount"] == Decimal("-2.00")


def test_the_same_provider_id_on_two_accounts_is_two_rows():
    first, second = AccountFactory(), AccountFactory()
    result = transactions_upsert(rows=[(first.pk, txn("t1")), (second.pk, txn("t1", amount="-3.00"))], now=T0)

    assert _counts(result) == (2, 0)
    assert _stored(first)["t1"]["amount"] == Decimal("-10.00")
    assert _stored(second)["t1"]["amount"] == Decimal("-3.00")


def test_two_calls_in_one_transaction_each_see_only_their_own_rows():
    account = AccountFactory()
    with transaction.atomic():
        first = transactions_upsert(rows=[(account.pk, txn("a")), (account.pk, txn("b"))], now=T0)
        second = transactions_upsert(rows=[(account.pk, txn("b")), (account.pk, txn("c"))], now=T0)

    assert (_counts(first), _counts(second)) == ((2, 0), (1, 0))
    assert set(_stored(account)) == {"a", "b", "c"}


def test_an_amount_finer_than_the_column_is_stored_rounded_and_then_seen_as_unchanged():
    account = AccountFactory()
    transactions_upsert(rows=[(account.pk, txn("t1", amount="-1.00004"))], now=T0)

    again = transactions_upsert(rows=[(account.pk, txn("t1", amount="-1.00004"))], now=T1)

    assert _stored(account)["t1"]["amount"] == Decimal("-1.0000")
    assert _counts(again) == (0, 0)


def test_raw_values_json_lacks_are_stored_as_django_encodes_them():
    account = AccountFactory()
    raw = {
        "amount": Decimal("1.50"),
        "at": dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
        "d": dt.date(2026, 1, 2),
    }
    transactions_upsert(rows=[(account.pk, txn("t1", raw=raw))], now=T0)

    assert _stored(account)["t1"]["raw"] == json.loads(json.dumps(raw, cls=DjangoJSONEncoder))
    assert _counts(transactions_upsert(rows=[(account.pk, txn("t1", raw=raw))], now=T1)) == (0, 0)


def test_a_batch_larger_than_one_statement_is_written_whole():
    account = AccountFactory()
    items = [(account.pk, txn(f"t{i:05d}")) for i in range(5200)]

    assert _counts(transactions_upsert(rows=items, now=T0)) == (5200, 0)
    assert _counts(transactions_upsert(rows=items, now=T1)) == (0, 0)
    assert Transaction.objects.filter(account=account).count() == 5200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "settled"}, "bad status"),
        ({"amount": 1.5}, "finite Decimal"),
        ({"amount": Decimal("NaN")}, "finite Decimal"),
        ({"currency": "gbp"}, "bad currency"),
        ({"currency": "GBP\n"}, "bad currency"),
        ({"booking_date": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}, "booking_date"),
        ({"booked_at": dt.datetime(2026, 1, 1, 12)}, "aware"),
        ({"provider_transaction_id": ""}, "usable id"),
        ({"provider_transaction_id": "x" * 201}, "usable id"),
    ],
    ids=lambda v: v if isinstance(v, str) else next(iter(v)),
)
def test_a_malformed_record_is_refused_and_nothing_of_its_batch_is_stored(change, message):
    account = AccountFactory()
    with pytest.raises(PermanentProviderError, match=message):
        transactions_upsert(rows=[(account.pk, txn("ok")), (account.pk, replace(txn("bad"), **change))], now=T0)
    assert not Transaction.objects.filter(account=account).exists()


def test_mark_removed_touches_only_live_rows_of_the_given_accounts_and_status():
    account, other = AccountFactory(), AccountFactory()
    rows = [(account.pk, txn("p1", status="pending")), (account.pk, txn("b1")), (other.pk, txn("p1", status="pending"))]
    transactions_upsert(rows=rows, now=T0)

    assert (
        transactions_mark_removed(
            account_ids=[account.pk], provider_ids=["p1", "b1", "nope"], now=T1, pending_only=True
        )
        == 1
    )
    assert transactions_mark_removed(account_ids=[account.pk], provider_ids=["p1"], now=T2) == 0  # already removed
    stored = _stored(account)
    assert (stored["p1"]["removed_at"], stored["p1"]["updated_at"]) == (T1, T1)
    assert stored["b1"]["removed_at"] is None
    assert _stored(other)["p1"]["removed_at"] is None


def test_mark_removed_handles_thousands_of_ids_across_accounts():
    first, second = AccountFactory(), AccountFactory()
    ids = [f"p{i:05d}" for i in range(2500)]
    transactions_upsert(rows=[(a.pk, txn(i, status="pending")) for a in (first, second) for i in ids], now=T0)

    removed = transactions_mark_removed(account_ids=[first.pk, second.pk], provider_ids=[*ids, *ids[:10]], now=T1)

    assert removed == 5000
    assert not Transaction.objects.filter(account__in=[first, second], removed_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_an_upsert_outside_any_transaction_is_atomic_and_complete():
    account = AccountFactory()
    result = transactions_upsert(rows=[(account.pk, txn(f"t{i}")) for i in range(30)], now=T0)

    assert _counts(result) == (30, 0)
    assert _counts(transactions_upsert(rows=[(account.pk, txn(f"t{i}")) for i in range(30)], now=T1)) == (0, 0)
    assert Transaction.objects.filter(account=account).count() == 30
