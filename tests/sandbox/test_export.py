"""``sandbox_export``: canonical JSON that agrees with the data functions, and clear CLI errors."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from providers.sandbox import bankdata as bd
from providers.sandbox.export import export_user, format_datetime

# the export reads the payments made at the bank (database rows) besides the generated history
pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 12, 0, 30, tzinfo=UTC)
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
AMOUNT = re.compile(r"^-?\d+\.\d\d$")


def _run(*args: str) -> str:
    out = StringIO()
    call_command("sandbox_export", *args, stdout=out)
    return out.getvalue()


def test_export_agrees_with_the_data_functions_field_by_field():
    doc = export_user("albion", "bob", now=NOW)
    assert (doc["bank"], doc["user"], doc["as_of"]) == ("albion", "bob", "2026-06-15T12:00:30Z")
    accounts = bd.user_accounts("albion", "bob")
    assert [a["id"] for a in doc["accounts"]] == [a.id for a in accounts]
    for exported, account in zip(doc["accounts"], accounts, strict=True):
        assert exported["type"] == account.type and exported["currency"] == account.currency
        assert exported["iban"] == account.iban and exported["masked_pan"] == account.masked_pan
        assert exported["credit_limit"] == (None if account.credit_limit is None else f"{account.credit_limit:.2f}")
        balances = bd.account_balances("albion", "bob", account.id, now=NOW)
        assert [(b["type"], Decimal(b["amount"]), b["credit_line_included"]) for b in exported["balances"]] == [
            (b.type, b.amount, b.credit_line_included) for b in balances
        ]
        txs = bd.account_transactions("albion", "bob", account.id, now=NOW)
        assert len(exported["transactions"]) == len(txs)
        for row, tx in zip(exported["transactions"], txs, strict=True):
            assert row["id"] == tx.id and row["status"] == tx.status
            assert Decimal(row["amount"]) == tx.amount
            assert row["booked_at"] == format_datetime(tx.booked_at)
            assert row["booking_date"] == tx.booking_date.isoformat()
            assert row["value_date"] == tx.value_date.isoformat()
            assert row["pending_transaction_id"] == tx.pending_transaction_id
            assert row["description"] == tx.description and row["bank_transaction_code"] == tx.bank_transaction_code


def _moment_with_pending(bank: str, user: str) -> datetime:
    for hours in range(0, 24 * 30, 6):
        moment = NOW + timedelta(hours=hours)
        for account in bd.user_accounts(bank, user):
            if bd.account_transactions(bank, user, account.id, now=moment, status="pending"):
                return moment
    raise AssertionError("no pending transaction within 30 days")


def test_export_formats_are_canonical():
    doc = export_user("rhein", "bob", now=_moment_with_pending("rhein", "bob"))
    for account in doc["accounts"]:
        assert re.match(r"^\d{4}-\d\d-\d\d$", account["opened_on"])
        for balance in account["balances"]:
            assert AMOUNT.match(balance["amount"]) and DATETIME.match(balance["as_of"])
        for tx in account["transactions"]:
            assert AMOUNT.match(tx["amount"]) and DATETIME.match(tx["booked_at"])
            assert set(tx) >= {"id", "account_id", "status", "booking_date", "value_date", "currency", "category"}
    assert {tx["status"] for a in doc["accounts"] for tx in a["transactions"]} == {"booked", "pending"}


def test_the_command_prints_sorted_json_equal_to_export_user():
    text = _run("liberty", "alice", "--as-of", "2026-06-15T12:00:30Z")
    doc = json.loads(text)
    assert doc == export_user("liberty", "alice", now=NOW)
    assert text == json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_the_compact_option_prints_one_line():
    text = _run("liberty", "alice", "--as-of", "2026-06-15T14:00:30+02:00", "--compact")
    assert text.count("\n") == 1
    assert text == json.dumps(json.loads(text), sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    assert json.loads(text) == export_user("liberty", "alice", now=NOW)


def test_a_user_without_accounts_exports_an_empty_list():
    assert json.loads(_run("albion", "carol", "--as-of", "2026-06-15T12:00:30Z"))["accounts"] == []


@pytest.mark.django_db
def test_by_default_the_export_is_taken_at_the_sandbox_clock():
    from providers.sandbox.testing import advance_clock

    shifted = advance_clock(days=10)
    doc = json.loads(_run("albion", "alice"))
    as_of = datetime.fromisoformat(doc["as_of"].replace("Z", "+00:00"))
    assert abs(as_of - shifted.now) < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere", "alice"], "valid banks: albion, rhein, liberty"),
        (["albion", "nobody"], "valid users: alice, bob, bulk"),
        (["albion", "alice", "--as-of", "yesterday"], "not an ISO 8601 datetime"),
        (["albion", "alice", "--as-of", "2026-06-15T12:00:00"], "needs a timezone"),
    ],
)
def test_the_command_explains_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)
