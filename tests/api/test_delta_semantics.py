"""The delta feed's labels, exactly (aggregator.delta): ``added`` the first time a client's cursor passes a row,
``modified`` / ``removed`` only for rows that cursor passed before — at any page size, while rows arrive, and
across a pending→booked change. Rows are stamped the way the sync's upsert stamps them: a whole page with one
timestamp (so ties on the stamp are the rule, not the exception), some updated after they were created."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.utils import timezone

from aggregator.models import Transaction
from tests.factories import TransactionFactory

pytestmark = pytest.mark.django_db

FEED = "/api/v1/transactions/sync"
IN_RANGE = dt.date(2026, 2, 1)  # inside the test consent's transaction range


def _walk(api, cursor=None, count=100, on_page=None):  # type: ignore[no-untyped-def]
    """One walk: call until has_more is false; returns (added ids, modified ids, removed ids, last cursor)."""
    added, modified, removed = [], [], []
    for _ in range(1000):
        query = {"count": count, **({"cursor": cursor} if cursor else {})}
        response = api.get(FEED, query)
        assert response.status_code == 200, response.content
        data = response.json()["data"]
        added += [t["id"] for t in data["added"]]
        modified += [t["id"] for t in data["modified"]]
        removed += [t["id"] for t in data["removed"]]
        cursor = data["next_cursor"]
        if on_page is not None:
            on_page()
        if not data["has_more"]:
            return added, modified, removed, cursor
    raise AssertionError("the walk never ended")


def _batch(account, n, *, at, updated=None):  # type: ignore[no-untyped-def]
    """``n`` rows created in one upsert page (one stamp), optionally updated later (another stamp)."""
    rows = TransactionFactory.create_batch(n, account=account, booking_date=IN_RANGE)
    Transaction.objects.filter(pk__in=[r.pk for r in rows]).update(created_at=at, updated_at=updated or at)
    return rows


def _history(account):  # type: ignore[no-untyped-def]
    now = timezone.now()
    rows = []
    rows += _batch(account, 9, at=now - dt.timedelta(hours=3), updated=now - dt.timedelta(minutes=30))
    rows += _batch(account, 8, at=now - dt.timedelta(hours=2))
    rows += _batch(account, 6, at=now - dt.timedelta(hours=1), updated=now - dt.timedelta(minutes=20))
    gone = _batch(account, 3, at=now - dt.timedelta(hours=1))  # pending items that vanished before any walk
    Transaction.objects.filter(pk__in=[r.pk for r in gone]).update(
        removed_at=now - dt.timedelta(minutes=40), updated_at=now - dt.timedelta(minutes=40)
    )
    return [str(r.public_id) for r in rows], [str(r.public_id) for r in gone]


@pytest.mark.parametrize("count", [1, 2, 5, 7, 23, 100])
def test_the_first_walk_returns_every_live_row_once_as_added_at_any_page_size(api, shared_account, count):
    live, gone = _history(shared_account)
    added, modified, removed, _ = _walk(api, count=count)
    assert Counter(added) == Counter(live)  # each exactly once
    assert modified == [] and removed == []
    assert not set(gone) & set(added)


@pytest.mark.parametrize("count", [1, 4, 100])
def test_later_walks_label_changes_of_rows_the_client_has_and_add_new_ones(api, shared_account, count):
    live, _ = _history(shared_account)
    *_, cursor = _walk(api, count=count)
    now = timezone.now()  # after the walk's snapshot: what a later sync writes
    changed = Transaction.objects.filter(public_id__in=live[:4])
    changed.update(description="CHANGED", updated_at=now)
    dropped = Transaction.objects.get(public_id=live[5])
    Transaction.objects.filter(pk=dropped.pk).update(removed_at=now, updated_at=now)
    new = [str(r.public_id) for r in _batch(shared_account, 3, at=now)]
    short_lived = _batch(shared_account, 2, at=now)
    Transaction.objects.filter(pk__in=[r.pk for r in short_lived]).update(removed_at=now)

    added, modified, removed, cursor = _walk(api, cursor, count=count)
    assert sorted(added) == sorted(new)
    assert sorted(modified) == sorted(live[:4])
    assert removed == [live[5]]  # never the short-lived rows the client was not given
    assert _walk(api, cursor, count=count)[:3] == ([], [], [])


def test_rows_arriving_during_a_walk_are_added_once_in_the_next_walk(api, shared_account):
    live, _ = _history(shared_account)
    arrived: list[str] = []

    def arrive() -> None:
        row = TransactionFactory(account=shared_account, booking_date=IN_RANGE)
        arrived.append(str(row.public_id))

    added, modified, removed, cursor = _walk(api, count=3, on_page=arrive)
    later = _walk(api, cursor, count=3)
    assert Counter(added + later[0]) == Counter(live + arrived)  # nothing lost, nothing twice
    assert modified == removed == later[1] == later[2] == []


def test_a_pending_item_that_posts_is_removed_and_its_booked_row_added_with_a_link(api, shared_account):
    now = timezone.now()
    (pending,) = _batch(shared_account, 1, at=now - dt.timedelta(hours=1))
    Transaction.objects.filter(pk=pending.pk).update(status=Transaction.Status.PENDING)
    added, _, _, cursor = _walk(api)
    assert added == [str(pending.public_id)]

    booked = TransactionFactory(
        account=shared_account, booking_date=IN_RANGE, pending_transaction_id=pending.provider_transaction_id
    )
    now = timezone.now()  # the sync that posts it runs after the walk
    Transaction.objects.filter(pk=booked.pk).update(created_at=now, updated_at=now)
    Transaction.objects.filter(pk=pending.pk).update(removed_at=now, updated_at=now)
    response = api.get(FEED, {"cursor": cursor}).json()["data"]
    assert [t["id"] for t in response["added"]] == [str(booked.public_id)]
    assert response["added"][0]["pending_transaction_id"] == str(pending.public_id)
    assert [t["id"] for t in response["removed"]] == [str(pending.public_id)]
    assert response["modified"] == []


def test_a_row_created_and_removed_between_two_walks_is_never_mentioned(api, shared_account):
    _history(shared_account)
    *_, cursor = _walk(api)
    now = timezone.now()
    (blip,) = _batch(shared_account, 1, at=now)
    Transaction.objects.filter(pk=blip.pk).update(removed_at=now)
    added, modified, removed, _ = _walk(api, cursor)
    assert str(blip.public_id) not in added + modified + removed
