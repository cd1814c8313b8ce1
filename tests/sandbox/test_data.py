"""The sandbox banks' data: deterministic, realistic, consistent balances, pending → booked, changes feed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from providers.sandbox import bankdata as bd
from providers.sandbox.data.catalog import FIXTURES_DIR
from providers.sandbox.export import export_user

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
# bankdata merges payments (database rows) into the generated history: every test may read the (empty) table.
pytestmark = pytest.mark.django_db


def _accounts(bank: str, user: str) -> dict[str, bd.SandboxAccount]:
    return {a.id: a for a in bd.user_accounts(bank, user)}


def _opening(bank: str, user: str, account: bd.SandboxAccount) -> Decimal:
    spec = next(u for u in json.loads((FIXTURES_DIR / "users.json").read_text())["users"] if u["username"] == user)
    index = list(_accounts(bank, user)).index(account.id)
    return Decimal(spec["accounts"][bank][index].get("opening_balance", "0.00"))


def _iban_valid(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def test_the_same_inputs_give_the_same_transactions():
    for account in bd.user_accounts("albion", "bob"):
        first = list(bd.account_transactions("albion", "bob", account.id, now=NOW))
        again = list(bd.account_transactions("albion", "bob", account.id, now=NOW))
        assert first == again
        assert first


def test_data_is_identical_in_a_fresh_process_with_another_hash_seed():
    script = (
        "import django, hashlib, json, os, sys; "
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'aggregator.config.settings');"
        "django.setup(); from datetime import datetime, UTC;"
        "from providers.sandbox.export import export_user;"
        "doc = export_user('rhein', 'bob', now=datetime(2026, 6, 15, 12, tzinfo=UTC), with_payments=False);"
        "print(hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    here = hashlib.sha256(
        json.dumps(export_user("rhein", "bob", now=NOW, with_payments=False), sort_keys=True).encode()
    ).hexdigest()
    assert out.stdout.strip() == here


def test_the_data_package_answers_without_django_in_a_fresh_process():
    """``providers.sandbox.data`` takes ``now`` explicitly and never loads Django (its benchmark runs bare)."""
    script = (
        "import sys; from datetime import datetime, UTC; import providers.sandbox.data as data;"
        "account = data.user_accounts('rhein', 'bob')[0];"
        "txs = data.account_transactions('rhein', 'bob', account.id, now=datetime(2026, 6, 15, 12, tzinfo=UTC));"
        "print(len(txs), txs[-1].id, 'django' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    account = bd.user_accounts("rhein", "bob")[0]
    txs = bd.account_transactions("rhein", "bob", account.id, now=NOW)
    assert out.stdout.split() == [str(len(txs)), txs[-1].id, "False"]


def test_different_users_and_banks_get_different_data():
    alice = bd.user_accounts("albion", "alice")[0]
    flaky = bd.user_accounts("albion", "flaky")[0]
    alice_rhein = bd.user_accounts("rhein", "alice")[0]
    assert len({alice.id, flaky.id, alice_rhein.id}) == 3
    a = [(t.amount, t.description) for t in bd.account_transactions("albion", "alice", alice.id, now=NOW)]
    f = [(t.amount, t.description) for t in bd.account_transactions("albion", "flaky", flaky.id, now=NOW)]
    assert a != f


def test_transaction_ids_are_unique_and_stable_as_time_passes():
    account = bd.user_accounts("albion", "bob")[0]
    earlier = bd.account_transactions("albion", "bob", account.id, now=NOW)
    later = bd.account_transactions("albion", "bob", account.id, now=NOW + timedelta(days=90))
    ids = [t.id for t in later]
    assert len(ids) == len(set(ids))
    booked_later = {t.id: t for t in later if t.status == "booked"}
    for tx in earlier:
        if tx.status == "booked":
            assert booked_later[tx.id] == tx


def test_history_covers_at_least_two_years():
    for bank in bd.BANKS:
        for account in bd.user_accounts(bank, "alice"):
            txs = bd.account_transactions(bank, "alice", account.id, now=NOW)
            assert txs[0].booked_at <= NOW - timedelta(days=730)
            assert txs[-1].booked_at >= NOW - timedelta(days=31)


def test_alice_has_a_few_accounts_and_a_few_hundred_transactions():
    for bank in bd.BANKS:
        accounts = bd.user_accounts(bank, "alice")
        assert 2 <= len(accounts) <= 3
        total = sum(len(bd.account_transactions(bank, "alice", a.id, now=NOW)) for a in accounts)
        assert 200 <= total <= 1000


def test_transactions_are_ordered_visible_and_well_formed():
    for account in bd.user_accounts("liberty", "bob"):
        txs = list(bd.account_transactions("liberty", "bob", account.id, now=NOW))
        assert [(t.booked_at, t.id) for t in txs] == sorted((t.booked_at, t.id) for t in txs)
        for t in txs:
            assert t.booked_at <= NOW
            assert t.booked_at.utcoffset() == timedelta(0)
            assert isinstance(t.amount, Decimal)
            assert t.amount.as_tuple().exponent == -2
            assert t.amount != 0
            assert t.currency == account.currency == "USD"
            assert t.status in ("booked", "pending")
            assert t.description and t.category
            domain, family, sub = t.bank_transaction_code.split("-")
            assert len(domain) == len(family) == len(sub) == 4
            assert len(t.id) <= 35  # Berlin Group's Max35Text


def test_realistic_categories_and_merchants_appear():
    account = bd.user_accounts("albion", "bob")[0]
    txs = bd.account_transactions("albion", "bob", account.id, now=NOW)
    categories = {t.category for t in txs}
    assert {"groceries", "transport", "restaurants", "utilities", "salary", "rent", "transfers", "cash"} <= categories
    salaries = [t for t in txs if t.category == "salary"]
    assert all(t.amount > 0 and t.bank_transaction_code == "PMNT-RCDT-SALA" for t in salaries)
    assert any(t.merchant_name == "Tesco" for t in txs)


def test_account_types_identifiers_and_currencies_follow_each_bank():
    bob_albion = bd.user_accounts("albion", "bob")
    assert {a.type for a in bob_albion} == {"current", "credit_card"}
    assert {a.currency for a in bob_albion} == {"GBP", "EUR"}
    for a in bob_albion:
        if a.type == "credit_card":
            assert a.masked_pan.startswith("*" * 12) and a.masked_pan[-4:].isdigit()
            assert a.credit_limit == Decimal("6000.00")
        else:
            assert len(a.sort_code) == 6 and a.sort_code.isdigit()
            assert len(a.account_number) == 8 and a.account_number.isdigit()
            assert a.iban.startswith("GB") and _iban_valid(a.iban)
    rhein = bd.user_accounts("rhein", "bob")
    assert {"EUR", "USD", "CHF"} <= {a.currency for a in rhein}
    assert all(_iban_valid(a.iban) and a.iban.startswith("DE") for a in rhein if a.type != "credit_card")
    for user in bd.all_users():
        for a in bd.user_accounts("liberty", user.username):
            assert a.currency == "USD"
            assert a.account_number.isdigit() or a.masked_pan


def test_users_are_defined_once_for_every_bank():
    users = {u.username: u for u in bd.all_users()}
    assert {"alice", "bob", "bulk", "flaky", "expired", "locked", "carol"} <= set(users)
    assert users["flaky"].behaviour == "flaky"
    assert users["expired"].behaviour == "expired"
    assert users["locked"].behaviour == "locked"
    assert users["alice"].behaviour == "normal"
    assert all(u.password == "sandbox" for u in users.values())
    assert bd.get_user("alice") == users["alice"]
    assert bd.get_user("nobody") is None
    assert bd.user_exists("rhein", "bob")
    assert not bd.user_exists("rhein", "nobody")
    assert not bd.user_exists("nowhere", "bob")
    assert bd.user_accounts("albion", "carol") == ()


def test_unknown_bank_user_or_account_raise_lookup_errors_naming_the_valid_ones():
    with pytest.raises(LookupError, match="albion, rhein, liberty"):
        bd.user_accounts("nowhere", "alice")
    with pytest.raises(LookupError, match="alice"):
        bd.user_accounts("albion", "nobody")
    with pytest.raises(LookupError, match="no account"):
        bd.account_transactions("albion", "alice", "alb-0000", now=NOW)


def test_naive_datetimes_are_refused():
    account = bd.user_accounts("albion", "alice")[0]
    with pytest.raises(ValueError, match="timezone-aware"):
        bd.account_transactions("albion", "alice", account.id, now=datetime(2026, 1, 1))


def test_booked_balance_is_the_opening_balance_plus_booked_amounts():
    for bank, user in (("albion", "bob"), ("rhein", "bob"), ("liberty", "alice")):
        for account in bd.user_accounts(bank, user):
            txs = bd.account_transactions(bank, user, account.id, now=NOW)
            balances = {b.type: b for b in bd.account_balances(bank, user, account.id, now=NOW)}
            booked_sum = sum((t.amount for t in txs if t.status == "booked"), Decimal("0.00"))
            pending_sum = sum((t.amount for t in txs if t.status == "pending"), Decimal("0.00"))
            assert balances["booked"].amount == _opening(bank, user, account) + booked_sum
            assert balances["expected"].amount == balances["booked"].amount + pending_sum
            if account.type == "credit_card":
                assert balances["available"].credit_line_included
                assert balances["available"].amount == balances["expected"].amount + account.credit_limit
            else:
                assert balances["available"].amount == balances["expected"].amount
            assert all(b.as_of == NOW and b.currency == account.currency for b in balances.values())
            assert all(b.amount.as_tuple().exponent == -2 for b in balances.values())


def test_balances_stay_in_a_realistic_range():
    for bank in bd.BANKS:
        for account in bd.user_accounts(bank, "bob"):
            booked = next(b for b in bd.account_balances(bank, "bob", account.id, now=NOW) if b.type == "booked")
            if account.type == "credit_card":
                assert -account.credit_limit <= booked.amount <= 0
            else:
                assert Decimal("-500") < booked.amount < Decimal("100000")


def test_before_the_history_starts_nothing_is_visible_and_the_balance_is_the_opening_one():
    account = bd.user_accounts("albion", "alice")[0]
    before = datetime(2023, 12, 31, 23, 59, tzinfo=UTC)
    assert len(bd.account_transactions("albion", "alice", account.id, now=before)) == 0
    booked = bd.account_balances("albion", "alice", account.id, now=before)[0]
    assert booked.amount == _opening("albion", "alice", account)


def _pending_that_posts(bank: str, user: str) -> tuple[bd.SandboxAccount, bd.SandboxTransaction, datetime]:
    """A pending item at some moment near NOW and a moment 3 days later."""
    for hours in range(0, 24 * 30, 6):
        moment = NOW + timedelta(hours=hours)
        for account in bd.user_accounts(bank, user):
            for tx in bd.account_transactions(bank, user, account.id, now=moment):
                if tx.status == "pending":
                    later = moment + timedelta(days=3)
                    booked = bd.account_transactions(bank, user, account.id, now=later)
                    if any(t.pending_transaction_id == tx.id for t in booked):
                        return account, tx, moment
    raise AssertionError("no pending transaction that posts within 30 days")


def test_a_pending_card_payment_posts_later_as_a_new_booked_item_pointing_back():
    account, pending, moment = _pending_that_posts("albion", "bob")
    later = bd.account_transactions("albion", "bob", account.id, now=moment + timedelta(days=3))
    assert pending.id not in {t.id for t in later}
    (booked,) = [t for t in later if t.pending_transaction_id == pending.id]
    assert booked.status == "booked" and booked.id != pending.id
    assert moment < booked.booked_at <= moment + timedelta(days=3)
    assert booked.booked_at - pending.booked_at < timedelta(days=3)
    assert booked.description == pending.description
    assert booked.value_date == pending.value_date
    # the tip, if any, only ever adds to a restaurant bill
    assert abs(booked.amount) >= abs(pending.amount)
    assert booked.amount == pending.amount or booked.category == "restaurants"


def test_authorised_but_not_posted_items_are_pending_and_later_ones_are_not_shown():
    account, pending, _moment = _pending_that_posts("rhein", "bob")
    just_before = pending.booked_at - timedelta(seconds=1)
    ids_before = {t.id for t in bd.account_transactions("rhein", "bob", account.id, now=just_before)}
    assert pending.id not in ids_before
    at_authorisation = bd.account_transactions("rhein", "bob", account.id, now=pending.booked_at)
    assert pending in list(at_authorisation)


def test_some_pending_items_are_cancelled_and_simply_vanish():
    account = next(a for a in bd.user_accounts("albion", "bob") if a.type == "credit_card")
    seen_pending: set[str] = set()
    moment = NOW - timedelta(days=365)
    while moment < NOW:
        seen_pending |= {
            t.id for t in bd.account_transactions("albion", "bob", account.id, now=moment) if t.status == "pending"
        }
        moment += timedelta(hours=12)
    final = bd.account_transactions("albion", "bob", account.id, now=NOW + timedelta(days=4))
    posted = {t.pending_transaction_id for t in final if t.pending_transaction_id}
    final_ids = {t.id for t in final}
    cancelled = seen_pending - posted
    assert cancelled, "expected at least one cancelled authorisation in a year of card payments"
    assert len(cancelled) < len(seen_pending) * 0.15
    assert not cancelled & final_ids


def test_booked_from_and_to_limit_by_booked_at():
    account = bd.user_accounts("albion", "bob")[0]
    everything = list(bd.account_transactions("albion", "bob", account.id, now=NOW))
    start, end = NOW - timedelta(days=40), NOW - timedelta(days=2)
    window = bd.account_transactions("albion", "bob", account.id, now=NOW, booked_from=start, booked_to=end)
    assert list(window) == [t for t in everything if start <= t.booked_at <= end]
    tail = bd.account_transactions("albion", "bob", account.id, now=NOW, booked_from=NOW - timedelta(days=5))
    assert list(tail) == [t for t in everything if t.booked_at >= NOW - timedelta(days=5)]


def test_the_transaction_sequence_supports_len_indexing_and_slicing():
    account = bd.user_accounts("albion", "alice")[0]
    view = bd.account_transactions("albion", "alice", account.id, now=NOW)
    items = list(view)
    assert len(view) == len(items)
    assert view[0] == items[0] and view[-1] == items[-1]
    assert view[10:20] == items[10:20]
    assert view[::50] == items[::50]
    assert view == items
    with pytest.raises(IndexError):
        view[len(items)]


def _state(bank: str, user: str, moment: datetime) -> dict[str, bd.SandboxTransaction]:
    return {
        t.id: t for a in bd.user_accounts(bank, user) for t in bd.account_transactions(bank, user, a.id, now=moment)
    }


def test_changes_since_none_is_everything_visible():
    added, modified, removed = bd.transaction_changes_since("liberty", "bob", since=None, now=NOW)
    assert {t.id: t for t in added} == _state("liberty", "bob", NOW)
    assert list(modified) == [] and list(removed) == []


@pytest.mark.parametrize("gap", [timedelta(hours=1), timedelta(hours=30), timedelta(days=4), timedelta(days=45)])
def test_applying_the_changes_to_the_earlier_state_gives_the_later_state(gap):
    since, now = NOW - gap, NOW
    before = _state("liberty", "bob", since)
    added, modified, removed = bd.transaction_changes_since("liberty", "bob", since=since, now=now)
    assert list(modified) == []
    assert set(removed) <= {i for i, t in before.items() if t.status == "pending"}
    after = {i: t for i, t in before.items() if i not in set(removed)}
    assert not set(after) & {t.id for t in added}
    after.update({t.id: t for t in added})
    assert after == _state("liberty", "bob", now)
    for t in added:
        assert since < t.booked_at <= now or t.status == "booked"


def test_a_posting_shows_as_removed_pending_plus_added_booked():
    _account, pending, moment = _pending_that_posts("liberty", "bob")
    added, _modified, removed = bd.transaction_changes_since(
        "liberty", "bob", since=moment, now=moment + timedelta(days=3)
    )
    assert pending.id in removed
    assert [t.pending_transaction_id for t in added].count(pending.id) == 1


def test_changes_since_refuses_a_since_after_now():
    with pytest.raises(ValueError, match="after now"):
        bd.transaction_changes_since("liberty", "bob", since=NOW + timedelta(seconds=1), now=NOW)


def test_bulk_has_at_least_100k_transactions_on_one_account():
    (account,) = bd.user_accounts("liberty", "bulk")
    assert len(bd.account_transactions("liberty", "bulk", account.id, now=NOW)) >= 100_000


def test_status_keeps_only_booked_or_only_pending_items():
    account = next(a for a in bd.user_accounts("albion", "bob") if a.type == "credit_card")
    everything = list(bd.account_transactions("albion", "bob", account.id, now=NOW))
    for status in ("booked", "pending"):
        only = bd.account_transactions("albion", "bob", account.id, now=NOW, status=status)
        assert list(only) == [t for t in everything if t.status == status]
    with pytest.raises(ValueError, match="status"):
        bd.account_transactions("albion", "bob", account.id, now=NOW, status="posted")


def test_changes_can_be_limited_to_some_accounts():
    card = next(a for a in bd.user_accounts("albion", "bob") if a.type == "credit_card")
    since = NOW - timedelta(days=20)
    added, _modified, removed = bd.transaction_changes_since(
        "albion", "bob", since=since, now=NOW, account_ids={card.id}
    )
    assert added and {t.account_id for t in added} == {card.id}
    everything, _m, all_removed = bd.transaction_changes_since("albion", "bob", since=since, now=NOW)
    assert list(added) == [t for t in everything if t.account_id == card.id]
    assert set(removed) <= set(all_removed)


def test_growing_the_history_month_by_month_gives_the_same_rows_as_generating_it_at_once():
    from providers.sandbox.data.timeline import clear_cache

    account = next(a for a in bd.user_accounts("albion", "bob") if a.type == "credit_card")
    later = NOW + timedelta(days=75)
    clear_cache()
    at_once = list(bd.account_transactions("albion", "bob", account.id, now=later))
    balances_at_once = bd.account_balances("albion", "bob", account.id, now=later)
    clear_cache()
    moment = NOW - timedelta(days=400)
    while moment < later:
        bd.account_transactions("albion", "bob", account.id, now=moment)
        moment += timedelta(days=17)
    assert list(bd.account_transactions("albion", "bob", account.id, now=later)) == at_once
    assert bd.account_balances("albion", "bob", account.id, now=later) == balances_at_once
