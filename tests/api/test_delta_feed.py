"""GET /transactions/sync: first call, changes since a cursor, pending→booked, paging, the safety watermark."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from aggregator.models import Transaction
from tests.factories import TransactionFactory

pytestmark = pytest.mark.django_db

FEED = "/api/v1/transactions/sync"


def _feed(api, cursor=None, **params):  # type: ignore[no-untyped-def]
    query = {**params, **({"cursor": cursor} if cursor else {})}
    response = api.get(FEED, query)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_the_first_call_returns_everything_in_range_as_added(api, shared_account, unshared_account):
    live = TransactionFactory(account=shared_account, booking_date=dt.date(2026, 2, 1))
    TransactionFactory(account=shared_account, booking_date=dt.date(2026, 2, 2), removed_at=timezone.now())
    TransactionFactory(account=unshared_account, booking_date=dt.date(2026, 2, 3))
    data = _feed(api)
    assert [t["id"] for t in data["added"]] == [str(live.public_id)]
    assert data["modified"] == data["removed"] == []
    assert data["has_more"] is False and data["next_cursor"]


def test_nothing_changed_means_an_empty_delta(api, shared_account):
    TransactionFactory(account=shared_account, booking_date=dt.date(2026, 2, 1))
    cursor = _feed(api)["next_cursor"]
    data = _feed(api, cursor)
    assert data["added"] == data["modified"] == data["removed"] == []


def test_pending_to_booked_is_reported_as_removed_plus_added_with_a_link(api, shared_account):
    pending = TransactionFactory(account=shared_account, booking_date=dt.date(2026, 3, 1), status="pending")
    first = _feed(api)
    assert [t["status"] for t in first["added"]] == ["pending"]

    # What the sync engine does when the bank posts the pending item under a new id.
    Transaction.objects.filter(pk=pending.pk).update(removed_at=timezone.now(), updated_at=timezone.now())
    booked = TransactionFactory(
        account=shared_account,
        booking_date=dt.date(2026, 3, 2),
        status="booked",
        pending_transaction_id=pending.provider_transaction_id,
    )
    delta = _feed(api, first["next_cursor"])
    assert delta["removed"] == [{"id": str(pending.public_id), "account_id": str(shared_account.public_id)}]
    assert [t["id"] for t in delta["added"]] == [str(booked.public_id)]
    assert delta["added"][0]["pending_transaction_id"] == str(pending.public_id)
    assert delta["modified"] == []
    # And the walk is complete: nothing is handed out twice.
    again = _feed(api, delta["next_cursor"])
    assert again["added"] == again["modified"] == again["removed"] == []


def test_an_updated_transaction_is_modified(api, shared_account):
    txn = TransactionFactory(account=shared_account, booking_date=dt.date(2026, 3, 1))
    cursor = _feed(api)["next_cursor"]
    Transaction.objects.filter(pk=txn.pk).update(description="Corrected", updated_at=timezone.now())
    delta = _feed(api, cursor)
    assert [(t["id"], t["description"]) for t in delta["modified"]] == [(str(txn.public_id), "Corrected")]
    assert delta["added"] == []


def test_a_large_delta_is_paged_with_has_more(api, shared_account):
    created = [TransactionFactory(account=shared_account, booking_date=dt.date(2026, 2, 1)) for _ in range(5)]
    seen, cursor, calls = [], None, 0
    while True:
        data = _feed(api, cursor, count=2)
        seen += [t["id"] for t in data["added"]]
        cursor, calls = data["next_cursor"], calls + 1
        if not data["has_more"]:
            break
    assert calls == 3
    assert sorted(seen) == sorted(str(t.public_id) for t in created)


def test_rows_younger_than_the_safety_lag_wait_for_the_next_call(api, settings, shared_account):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "DELTA_FEED_SAFETY_LAG_SECONDS": 60}
    old = TransactionFactory(account=shared_account, booking_date=dt.date(2026, 2, 1))
    five_minutes_ago = timezone.now() - dt.timedelta(minutes=5)
    Transaction.objects.filter(pk=old.pk).update(created_at=five_minutes_ago, updated_at=five_minutes_ago)
    # Stamped 10 s ago but, as far as a reader knows, possibly committed only now.
    young = TransactionFactory(account=shared_account, booking_date=dt.date(2026, 2, 2))
    ten_seconds_ago = timezone.now() - dt.timedelta(seconds=10)
    Transaction.objects.filter(pk=young.pk).update(created_at=ten_seconds_ago, updated_at=ten_seconds_ago)
    first = _feed(api)
    assert [t["id"] for t in first["added"]] == [str(old.public_id)]
    settings.AGGREGATOR = {**settings.AGGREGATOR, "DELTA_FEED_SAFETY_LAG_SECONDS": 0}
    later = _feed(api, first["next_cursor"])
    assert [t["id"] for t in later["added"] + later["modified"]] == [str(young.public_id)]


def test_a_cursor_of_another_consent_is_refused(api, alice, shared_account):
    from rest_framework.test import APIClient

    from .factories import AccessTokenFactory, AuthorisedConsentFactory

    other = APIClient()
    other.credentials(
        HTTP_AUTHORIZATION="Bearer "
        + AccessTokenFactory(consent=AuthorisedConsentFactory(user=alice, accounts=[shared_account])).token
    )
    cursor = _feed(api)["next_cursor"]
    response = other.get(FEED, {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "cursor"
