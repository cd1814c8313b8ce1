"""The transaction list: shape, filters, parameter errors, and keyset pagination."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from aggregator.models import Transaction
from tests.factories import TransactionFactory

from .conftest import days, make_transactions

pytestmark = pytest.mark.django_db


def _url(account, **params):  # type: ignore[no-untyped-def]
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/v1/accounts/{account.public_id}/transactions" + (f"?{query}" if query else "")


def _walk(api, first_url, on_page=None):  # type: ignore[no-untyped-def]
    seen, url, pages = [], first_url, 0
    while url:
        body = api.get(url).json()
        seen.extend(t["id"] for t in body["data"])
        url = body["links"]["next"]
        pages += 1
        if on_page and url:
            on_page(pages)
    return seen, pages


def test_a_transaction_has_string_amounts_iso_dates_and_opaque_ids(api, shared_account):
    TransactionFactory(
        account=shared_account,
        booking_date=dt.date(2026, 2, 3),
        booked_at=dt.datetime(2026, 2, 3, 10, 30, tzinfo=dt.UTC),
        amount=Decimal("-12.3000"),
        currency="GBP",
    )
    item = api.get(_url(shared_account)).json()["data"][0]
    assert item["amount"] == "-12.30"
    assert item["currency"] == "GBP"
    assert item["booking_date"] == "2026-02-03"
    assert item["booked_at"] == "2026-02-03T10:30:00Z"
    assert item["account_id"] == str(shared_account.public_id)
    assert len(item["id"]) == 36
    assert "provider_transaction_id" not in item and "raw" not in item


def test_newest_first_with_ties_broken_stably(api, shared_account):
    same_day = [TransactionFactory(account=shared_account, booking_date=dt.date(2026, 3, 1)) for _ in range(3)]
    older = TransactionFactory(account=shared_account, booking_date=dt.date(2026, 2, 1))
    ids = [t["id"] for t in api.get(_url(shared_account)).json()["data"]]
    assert ids == [str(t.public_id) for t in reversed(same_day)] + [str(older.public_id)]


def test_filters_narrow_the_list(api, shared_account):
    TransactionFactory(account=shared_account, booking_date=dt.date(2026, 1, 10), amount=Decimal("-5"))
    big = TransactionFactory(account=shared_account, booking_date=dt.date(2026, 2, 10), amount=Decimal("-500"))
    pending = TransactionFactory(
        account=shared_account, booking_date=dt.date(2026, 3, 10), status="pending", amount=Decimal("20")
    )
    ids = lambda **p: [t["id"] for t in api.get(_url(shared_account, **p)).json()["data"]]  # noqa: E731
    assert ids(status="pending") == [str(pending.public_id)]
    assert ids(max_amount="-100") == [str(big.public_id)]
    assert ids(min_amount="0") == [str(pending.public_id)]
    assert ids(booked_from="2026-02-01", booked_to="2026-02-28") == [str(big.public_id)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "501"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"status": "done"}, "status"),
        ({"booked_from": "yesterday"}, "booked_from"),
        ({"booked_from": "2026-03-01", "booked_to": "2026-02-01"}, "booked_from"),
        ({"min_amount": "abc"}, "min_amount"),
        ({"min_amount": "5", "max_amount": "1"}, "min_amount"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(api, shared_account, params, field):
    response = api.get(_url(shared_account, **params))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_a_tampered_cursor_or_one_for_another_account_is_refused(api, consent, shared_account, alice_connection):
    make_transactions(shared_account, days(dt.date(2026, 1, 1), 3))
    nxt = api.get(_url(shared_account, page_size=1)).json()["links"]["next"]
    cursor = parse_qs(urlsplit(nxt).query)["cursor"][0]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert api.get(_url(shared_account, cursor=tampered)).status_code == 400
    from tests.factories import AccountFactory

    other = AccountFactory(connection=alice_connection)
    consent.accounts.add(other)
    assert api.get(_url(other, cursor=cursor)).json()["errors"][0]["field"] == "cursor"


def test_page_size_defaults_to_100_and_caps_at_500(api, shared_account):
    make_transactions(shared_account, [dt.date(2026, 1, 1) + dt.timedelta(days=i % 150) for i in range(120)])
    body = api.get(_url(shared_account)).json()
    assert len(body["data"]) == 100 and body["meta"]["page_size"] == 100
    assert len(api.get(_url(shared_account, page_size=500)).json()["data"]) == 120


def test_walking_all_pages_returns_every_transaction_exactly_once(api, shared_account):
    # Many ties on the same booking date: the old OFFSET trap of date-only cursors.
    created = make_transactions(shared_account, [dt.date(2026, 1, 1) + dt.timedelta(days=i // 7) for i in range(53)])
    seen, pages = _walk(api, _url(shared_account, page_size=5))
    assert pages == 11
    assert len(seen) == len(set(seen)) == 53
    assert set(seen) == {str(t.public_id) for t in created}


def test_walking_while_new_transactions_arrive_never_repeats_or_loses_existing_ones(api, shared_account):
    created = make_transactions(shared_account, [dt.date(2026, 2, 1) + dt.timedelta(days=i // 4) for i in range(40)])
    arrived: list[Transaction] = []

    def insert(page: int) -> None:
        # Newer, older and same-day-as-everything transactions land while the client pages.
        older = dt.date(2026, 1, 31) - dt.timedelta(days=page)  # older than anything handed out so far
        for d in (dt.date(2026, 5, 1), older, dt.date(2026, 2, 1 + page)):
            arrived.append(TransactionFactory(account=shared_account, booking_date=d))

    seen, _ = _walk(api, _url(shared_account, page_size=6), on_page=insert)
    assert len(seen) == len(set(seen))
    assert {str(t.public_id) for t in created} <= set(seen)
    # Rows older than every page handed out so far are picked up later in the same walk.
    older = [t for t in arrived if t.booking_date < dt.date(2026, 2, 1)]
    assert older and all(str(t.public_id) in seen for t in older)


def test_removed_transactions_are_not_listed(api, shared_account):
    from django.utils import timezone

    TransactionFactory(account=shared_account, booking_date=dt.date(2026, 2, 1), removed_at=timezone.now())
    assert api.get(_url(shared_account)).json()["data"] == []


@pytest.mark.parametrize("page_size", [1, 10, 200])
def test_query_count_is_constant_whatever_the_page_size(api, shared_account, django_assert_max_num_queries, page_size):
    make_transactions(shared_account, [dt.date(2026, 1, 1) + dt.timedelta(days=i % 170) for i in range(210)])
    # Booked rows linked to pending ones need one extra (batched) lookup, never one per row.
    pending = TransactionFactory(account=shared_account, booking_date=dt.date(2026, 6, 29), status="pending")
    TransactionFactory(
        account=shared_account,
        booking_date=dt.date(2026, 6, 30),
        pending_transaction_id=pending.provider_transaction_id,
    )
    # token with its consent + account + page + pending links + the page's insights labels (one batched lookup)
    # (+ access log insert, last-access update and the ledger's outbox row of the batch: synchronous in tests;
    # batched in production).
    with django_assert_max_num_queries(8):
        response = api.get(_url(shared_account, page_size=page_size))
    assert response.status_code == 200
    first = response.json()["data"][0]
    assert first["pending_transaction_id"] == str(pending.public_id)
