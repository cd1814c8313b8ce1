"""The adapter contract, run against every registered adapter (with its bank's recorded payloads)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal

import pytest

from aggregator.models import Account, Balance
from providers.base import (
    AccountData,
    AuthorizationRequest,
    BalanceData,
    BankAdapter,
    Credentials,
    NotSupportedError,
    PaymentInstruction,
    TransactionData,
    TransactionPage,
)
from providers.registry import adapter_classes

from .conftest import BASE, MOCKS

REGISTERED = sorted(adapter_classes())


def _config(bank: str) -> dict:
    return {"base_url": f"{BASE}/{bank}", "client_id": f"aggregator-{bank}", "client_secret": "s"}


def _check_transaction(txn: TransactionData, account_ids: set[str]) -> None:
    assert txn.provider_transaction_id and txn.provider_account_id in account_ids
    assert txn.status in {"booked", "pending"}
    assert isinstance(txn.amount, Decimal) and txn.amount.is_finite()
    assert len(txn.currency) == 3 and txn.currency.isupper()
    assert type(txn.booking_date) is date
    assert txn.booked_at is None or (
        isinstance(txn.booked_at, datetime) and txn.booked_at.utcoffset().total_seconds() == 0
    )
    assert txn.value_date is None or type(txn.value_date) is date
    assert isinstance(txn.raw, dict) and txn.raw


def test_every_adapter_has_a_matching_recorded_bank():
    assert set(REGISTERED) <= set(MOCKS), "add recorded payloads and a mock for each registered adapter"


@pytest.mark.parametrize("name", REGISTERED)
def test_adapter_contract(name, bank_mock):
    bank, mock = MOCKS[name]
    mock(bank_mock)
    cls = adapter_classes()[name]
    adapter = cls(_config(bank))

    assert issubclass(cls, BankAdapter) and cls.name == name
    assert cls.sync_mode in {"window", "cursor"}

    auth = adapter.start_authorization(redirect_uri="http://127.0.0.1:8000/connect/callback/")
    assert isinstance(auth, AuthorizationRequest) and auth.state and auth.url.startswith("https://")
    assert auth.state in auth.url and "redirect_uri=" in auth.url

    credentials = adapter.exchange_code(code="c", redirect_uri="http://127.0.0.1:8000/connect/callback/", auth=auth)
    assert isinstance(credentials, Credentials) and credentials.access_token and credentials.refresh_token
    assert credentials.expires_at is not None and credentials.expires_at.tzinfo is not None
    refreshed = adapter.refresh(credentials)
    assert refreshed.access_token != credentials.access_token
    assert refreshed.consent_id == credentials.consent_id
    assert credentials.access_token not in repr(credentials)

    accounts = adapter.list_accounts(refreshed)
    assert accounts and all(isinstance(a, AccountData) for a in accounts)
    ids = {a.provider_account_id for a in accounts}
    assert len(ids) == len(accounts)
    for account in accounts:
        assert account.type in Account.Type.values and len(account.currency) == 3
        with pytest.raises(dataclasses.FrozenInstanceError):
            account.display_name = "x"  # type: ignore[misc]
        for balance in adapter.get_balances(refreshed, account):
            assert isinstance(balance, BalanceData) and balance.type in Balance.Type.values
            assert isinstance(balance.amount, Decimal) and balance.as_of.tzinfo is not None
            assert balance.provider_account_id == account.provider_account_id

    targets = accounts[:1] if cls.sync_mode == "cursor" and cls.cursor_spans_accounts else accounts
    seen = 0
    for account in targets:
        pages = list(adapter.iter_transactions(refreshed, account, since=date(2026, 10, 1)))
        assert pages and all(isinstance(p, TransactionPage) for p in pages)
        assert not pages[-1].has_more and all(p.has_more for p in pages[:-1])
        for page in pages:
            for txn in (*page.transactions, *page.modified):
                _check_transaction(txn, ids)
                seen += 1
        if cls.sync_mode == "cursor":
            assert all(p.next_cursor for p in pages)
    assert seen > 0


# --- the payment capability ------------------------------------------------------------------------------
_PAYMENT_METHODS = (
    "start_payment_authorization",
    "complete_payment_authorization",
    "submit_payment",
    "get_payment",
)
# What each dialect offers: the flags must say it, and the methods must match the flags.
EXPECTED_PAYMENTS = {
    "obie": {"supports_payments": True, "supports_scheduled_payments": True, "supports_funds_confirmation": True},
    "berlin_group": {
        "supports_payments": True,
        "supports_scheduled_payments": False,
        "supports_funds_confirmation": False,
    },
    "cursor_delta": {
        "supports_payments": False,
        "supports_scheduled_payments": False,
        "supports_funds_confirmation": False,
    },
}


def _overrides(cls: type, method: str) -> bool:
    return getattr(cls, method) is not getattr(BankAdapter, method)


@pytest.mark.parametrize("name", REGISTERED)
def test_payment_capability_flags_match_what_the_adapter_implements(name):
    cls = adapter_classes()[name]
    flags = {flag: getattr(cls, flag) for flag in EXPECTED_PAYMENTS.get(name, EXPECTED_PAYMENTS["cursor_delta"])}
    if name in EXPECTED_PAYMENTS:
        assert flags == EXPECTED_PAYMENTS[name]
    assert all(isinstance(value, bool) for value in flags.values())
    for method in _PAYMENT_METHODS:
        assert _overrides(cls, method) == cls.supports_payments, (name, method)
    assert _overrides(cls, "confirm_funds") == cls.supports_funds_confirmation, name
    if cls.supports_scheduled_payments or cls.supports_funds_confirmation:
        assert cls.supports_payments, name


@pytest.mark.parametrize("name", REGISTERED)
def test_an_adapter_without_payments_refuses_them_clearly_and_sends_nothing(name, bank_mock):
    cls = adapter_classes()[name]
    if cls.supports_payments:
        pytest.skip("offers payments")
    adapter = cls(_config(MOCKS[name][0]))
    instruction = PaymentInstruction(
        instruction_id="i", end_to_end_id="e", amount=Decimal("1.00"), currency="USD", creditor_name="c"
    )
    with pytest.raises(NotSupportedError, match="no payment initiation"):
        adapter.start_payment_authorization(instruction, idempotency_key="k", redirect_uri="http://x/")
    with pytest.raises(NotSupportedError):
        adapter.get_payment(Credentials(access_token="t"), "p")
    assert not bank_mock.calls
