"""Helpers of the sync integration tests: connect through the real OAuth flow, sync like the task would
(retrying transient errors on the same SyncRun), and compare the database with ``sandbox_export``."""

from __future__ import annotations

from decimal import Decimal

from aggregator.models import Account, Connection, SyncRun, Transaction
from aggregator.sync.services import connection_sync
from providers.base import TransientProviderError

from .conftest import ground_truth, without_as_of

# What each dialect cannot carry, as a function of the ground truth (everything else must match exactly).
#   rhein (Berlin Group): dates only (no booking time); one party name (creditorName/debtorName =
#   merchant or else counterparty, max 70 chars; the adapter may store it as merchant or counterparty);
#   no link from a booked item to the pending one it replaced; remittance information max 140 chars.
#   liberty (US cursor-delta): no value date; account numbers only as a mask; no "expected" balance.


def expected_transaction(bank: str, t: dict) -> dict:
    e = {
        "status": t["status"],
        "booking_date": t["booking_date"],
        "value_date": t["value_date"],
        "booked_at": t["booked_at"],
        "amount": Decimal(t["amount"]),
        "currency": t["currency"],
        "description": t["description"],
        "merchant_name": t["merchant_name"],
        "category": t["category"],
        "counterparty_name": t["counterparty_name"],
        "bank_transaction_code": t["bank_transaction_code"],
        "pending_transaction_id": t["pending_transaction_id"],
    }
    if bank == "rhein":
        e["booked_at"] = None
        e["party"] = (e.pop("merchant_name") or e.pop("counterparty_name"))[:70]
        e.pop("counterparty_name", None)
        e["pending_transaction_id"] = ""
        e["description"] = t["description"][:140]
    if bank == "liberty":
        e["value_date"] = None
    return e


def stored_transaction(row: Transaction, bank: str) -> dict:
    stored = {
        "status": row.status,
        "booking_date": row.booking_date.isoformat(),
        "value_date": row.value_date.isoformat() if row.value_date else None,
        "booked_at": row.booked_at.strftime("%Y-%m-%dT%H:%M:%SZ") if row.booked_at else None,
        "amount": row.amount,
        "currency": row.currency,
        "description": row.description,
        "merchant_name": row.merchant_name,
        "category": row.category,
        "counterparty_name": row.counterparty_name,
        "bank_transaction_code": row.bank_transaction_code,
        "pending_transaction_id": row.pending_transaction_id,
    }
    if bank == "rhein":  # one party name: the adapter may call it the merchant or the counterparty
        stored["party"] = stored.pop("merchant_name") or stored.pop("counterparty_name")
        stored.pop("counterparty_name", None)
    return stored


def expected_account(bank: str, a: dict) -> dict:
    e = {
        "type": a["type"],
        "currency": a["currency"],
        "display_name": a["name"],
        "holder_name": a["holder_name"],
        "iban": a["iban"],
        "sort_code": a["sort_code"],
        "account_number": a["account_number"],
        "masked_pan": a["masked_pan"],
    }
    return e


def expected_balance_types(bank: str, a: dict) -> set[str]:
    types = {b["type"] for b in a["balances"]}
    return types - {"expected"} if bank == "liberty" else types


def assert_matches_ground_truth(connection: Connection, bank: str, truth: dict) -> None:
    """The connection's live rows equal the bank's ground truth, field by field (see the dialect notes)."""
    accounts = {a.provider_account_id: a for a in Account.objects.filter(connection=connection, removed_at=None)}
    assert set(accounts) == {a["id"] for a in truth["accounts"]}
    for a in truth["accounts"]:
        account = accounts[a["id"]]
        stored = {k: getattr(account, k) for k in expected_account(bank, a)}
        assert stored == expected_account(bank, a), a["id"]

        balances = {b.type: b for b in account.balances.all()}
        assert set(balances) == expected_balance_types(bank, a), a["id"]
        for b in a["balances"]:
            if b["type"] in balances:
                got = balances[b["type"]]
                assert (got.amount, got.currency) == (Decimal(b["amount"]), b["currency"]), (a["id"], b["type"])

        rows = {t.provider_transaction_id: t for t in account.transactions.filter(removed_at=None)}
        want = {t["id"]: t for t in a["transactions"]}
        missing, extra = sorted(set(want) - set(rows)), sorted(set(rows) - set(want))
        assert not missing and not extra, f"{a['id']}: missing {missing[:5]}, extra {extra[:5]}"
        mismatched = [
            (
                tid,
                {
                    k: (v, stored_transaction(rows[tid], bank)[k])
                    for k, v in expected_transaction(bank, t).items()
                    if stored_transaction(rows[tid], bank)[k] != v
                },
            )
            for tid, t in want.items()
            if stored_transaction(rows[tid], bank) != expected_transaction(bank, t)
        ]
        assert not mismatched, f"{a['id']}: {len(mismatched)} transaction(s) differ, e.g. {mismatched[:3]}"


def sync_until_done(connection: Connection, *, trigger: str = SyncRun.Trigger.MANUAL, attempts: int = 12) -> SyncRun:
    """Sync like the Celery task would: transient errors are retried on the same SyncRun."""
    run = SyncRun.objects.create(connection=connection, trigger=trigger)
    for _ in range(attempts):
        try:
            return connection_sync(connection=connection, trigger=trigger, sync_run=run)
        except TransientProviderError:
            continue
    raise AssertionError(f"sync did not succeed in {attempts} attempts: {run.error_code} {run.error_detail}")


def connect(bank: str, user: str, *, sync: bool = False, attempts: int = 8) -> Connection:
    """``sandbox_connect`` (the real OAuth redirect flow), retried when a flaky bank fails the login dance."""
    from django.core.management import CommandError

    from aggregator.management.commands.sandbox_connect import sandbox_connect

    error: Exception | None = None
    for _ in range(attempts):
        try:
            return sandbox_connect(username=user, bank=bank, sync=sync)
        except CommandError as exc:
            error = exc
    raise AssertionError(f"could not connect {user} at {bank}: {error}")


def sync_to_ground_truth(connection: Connection, bank: str, user: str) -> tuple[SyncRun, dict]:
    """Sync and return (run, truth) where the bank's data did not move during the sync (the sandbox clock runs
    in real time, so a pending item may post mid-sync; then sync again)."""
    for _ in range(3):
        before = ground_truth(bank, user)
        run = sync_until_done(connection)
        truth = ground_truth(bank, user)
        if without_as_of(before) == without_as_of(truth):
            return run, truth
    raise AssertionError("the sandbox data kept moving during the sync")
