"""Liberty (US cursor-delta dialect): accounts, /transactions/sync paging and deltas. Every response is validated
against providers/sandbox/openapi/liberty.yaml."""

from __future__ import annotations

from decimal import Decimal

import pytest

from providers.sandbox import bankdata
from providers.sandbox.testing import advance_clock

from .banking import (
    LIBERTY,
    assert_conforms,
    authorize,
    connect,
    demo_clients,  # noqa: F401  (fixture)
    exchange,
    pkce_pair,
    refresh,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_clients")]


def _get(client, path, token):  # type: ignore[no-untyped-def]
    response = client.get(f"{LIBERTY}{path}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_conforms("liberty", response)
    return response


def _sync(client, token, cursor="", count=500):  # type: ignore[no-untyped-def]
    """Follow has_more to the end; returns (added, modified, removed ids, final cursor, pages)."""
    added, modified, removed, pages = [], [], [], 0
    while True:
        body = _get(client, f"/transactions/sync?cursor={cursor}&count={count}", token).json()
        added += body["added"]
        modified += body["modified"]
        removed += [r["transaction_id"] for r in body["removed"]]
        cursor, pages = body["next_cursor"], pages + 1
        if not body["has_more"]:
            return added, modified, removed, cursor, pages


def _signed(item: dict) -> Decimal:
    amount = Decimal(item["amount"])
    return -amount if item["direction"] == "DEBIT" else amount


def test_accounts_list_the_shared_accounts_with_balances(client):
    token = connect(client, "liberty", username="bob")["access_token"]
    accounts = _get(client, "/accounts", token).json()["accounts"]
    truth = bankdata.user_accounts("liberty", "bob")
    assert [a["account_id"] for a in accounts] == [a.id for a in truth]
    card = next(a for a in accounts if a["type"] == "credit")
    booked = next(b for b in bankdata.account_balances("liberty", "bob", card["account_id"]) if b.type == "booked")
    assert Decimal(card["balances"]["current"]) == -booked.amount  # amount owed, positive
    assert card["balances"]["limit"] is not None and card["subtype"] == "credit card"


def test_numbers_give_the_full_account_and_routing_numbers_of_shared_deposit_accounts(client):
    truth = bankdata.user_accounts("liberty", "alice")
    deposit = [a for a in truth if a.type != "credit_card"]
    verifier, challenge = pkce_pair()
    shared = [deposit[0].id, *(a.id for a in truth if a.type == "credit_card")]
    code = authorize(client, "liberty", challenge=challenge, accounts=shared)["code"]
    token = exchange(client, "liberty", code, verifier).json()["access_token"]

    numbers = _get(client, "/numbers", token).json()["numbers"]

    assert numbers == [
        {
            "account_id": deposit[0].id,
            "account_number": deposit[0].account_number,
            "routing_number": "099990008",
            "wire_routing_number": "099990008",
        }
    ]  # the card and the account not shared have no entry
    masks = {a["account_id"]: a["mask"] for a in _get(client, "/accounts", token).json()["accounts"]}
    assert masks[deposit[0].id] == deposit[0].account_number[-4:]


def test_numbers_need_a_valid_token(client):
    response = client.get(f"{LIBERTY}/numbers", HTTP_AUTHORIZATION="Bearer nope")
    assert_conforms("liberty", response)
    assert response.status_code == 401


def test_full_sync_returns_every_transaction_unsigned_with_direction(client):
    token = connect(client, "liberty")["access_token"]
    added, modified, removed, _, pages = _sync(client, token, count=200)
    truth = [
        t
        for a in bankdata.user_accounts("liberty", "alice")
        for t in bankdata.account_transactions("liberty", "alice", a.id)
    ]
    assert pages > 1 and not modified and not removed
    assert {t["transaction_id"] for t in added} == {t.id for t in truth}
    by_id = {t.id: t for t in truth}
    for item in added:
        assert not item["amount"].startswith("-")
        assert _signed(item) == by_id[item["transaction_id"]].amount
        assert "T" in item["authorized_at"]  # a timestamp, never a bare date


def test_only_shared_accounts_are_synced(client):
    accounts = [a.id for a in bankdata.user_accounts("liberty", "alice")]
    verifier, challenge = pkce_pair()
    code = authorize(client, "liberty", challenge=challenge, accounts=accounts[:1])["code"]
    token = exchange(client, "liberty", code, verifier).json()["access_token"]
    added, *_ = _sync(client, token)
    assert {t["account_id"] for t in added} == {accounts[0]}
    assert [a["account_id"] for a in _get(client, "/accounts", token).json()["accounts"]] == accounts[:1]


def test_incremental_sync_reports_posted_pendings_as_removed_plus_added(client):
    token = connect(client, "liberty", username="bob")["access_token"]
    added, _, _, cursor, _ = _sync(client, token)
    pending = {t["transaction_id"] for t in added if t["pending"]}
    for _ in range(15):  # move the clock until the first sync has seen a pending item
        if pending:
            break
        advance_clock(days=1)
        token = connect(client, "liberty", username="bob")["access_token"]
        more, _, gone, cursor, _ = _sync(client, token, cursor)
        pending = (pending - set(gone)) | {t["transaction_id"] for t in more if t["pending"]}
    assert pending, "no pending transaction at liberty within 15 sandbox days"
    assert _sync(client, token, cursor)[0] == []  # nothing new at the same instant
    advance_clock(days=10)
    token = connect(client, "liberty", username="bob")["access_token"]
    new, _, removed, _, _ = _sync(client, token, cursor)
    assert new  # ten days bring new transactions
    assert pending <= set(removed)  # every pending item we knew has posted or been cancelled
    posted = [t for t in new if t["pending_transaction_id"] in pending]
    assert posted, "at least one known pending item posted with a new id"
    for item in posted:
        assert not item["pending"] and item["posted_at"] is not None
        assert item["transaction_id"] != item["pending_transaction_id"]


def test_invalid_cursor_and_count_are_400(client):
    token = connect(client, "liberty")["access_token"]
    bad = _get(client, "/transactions/sync?cursor=garbage!", token)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_CURSOR"
    assert _get(client, "/transactions/sync?count=0", token).status_code == 400
    assert _get(client, "/transactions/sync?count=501", token).status_code == 400


def test_missing_token_is_401(client):
    response = client.get(f"{LIBERTY}/accounts")
    assert_conforms("liberty", response)
    assert response.status_code == 401 and response.json()["error"]["code"] == "INVALID_ACCESS_TOKEN"


def test_openapi_file_is_served(client):
    response = client.get("/sandbox/liberty/openapi.yaml")
    assert response.status_code == 200 and b"/transactions/sync" in b"".join(response.streaming_content)


def test_item_remove_ends_the_authorization_and_can_be_repeated(client):
    tokens = connect(client, "liberty")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    removed = client.post(f"{LIBERTY}/item/remove", **auth)
    assert removed.status_code == 200 and removed.json() == {"removed": True}
    assert_conforms("liberty", removed)
    gone = _get(client, "/accounts", tokens["access_token"])
    assert gone.status_code == 403 and gone.json()["error"]["code"] == "ITEM_LOGIN_REQUIRED"
    assert refresh(client, "liberty", tokens["refresh_token"]).status_code == 400
    again = client.post(f"{LIBERTY}/item/remove", **auth)
    assert again.status_code == 200 and again.json() == {"removed": True}


def test_item_remove_needs_a_valid_access_token(client):
    response = client.post(f"{LIBERTY}/item/remove", HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401 and response.json()["error"]["code"] == "INVALID_ACCESS_TOKEN"
    assert_conforms("liberty", response)
