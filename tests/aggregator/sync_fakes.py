"""An in-memory bank behind the real ``BankAdapter`` interface, for sync-engine unit tests (no network).

``FakeBank.current`` is the bank the adapters talk to; tests change its data, inject errors and read the calls
it received. ``FakeWindowAdapter`` speaks the date-window dialect, ``FakeCursorAdapter`` the cursor dialect
(one cursor spanning every account), ``FakeLimitedAdapter`` is a window bank with 4 unattended calls a day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import ClassVar

import pytest

from providers.base import (
    AccountData,
    AuthorizationRequest,
    BalanceData,
    BankAdapter,
    Credentials,
    TransactionData,
    TransactionPage,
)

ADAPTER_PATHS = [
    "tests.aggregator.sync_fakes.FakeWindowAdapter",
    "tests.aggregator.sync_fakes.FakeCursorAdapter",
    "tests.aggregator.sync_fakes.FakeLimitedAdapter",
]
UTC = dt.UTC


def txn(tid: str, *, account: str = "acc-1", day: int = 1, amount: str = "-10.00", **kw) -> TransactionData:
    booking = dt.date(2026, 1, 1) + dt.timedelta(days=day - 1)
    values = {
        "provider_transaction_id": tid,
        "provider_account_id": account,
        "status": "booked",
        "booking_date": booking,
        "amount": Decimal(amount),
        "currency": "GBP",
        "booked_at": dt.datetime(booking.year, booking.month, booking.day, 12, tzinfo=UTC),
        "value_date": booking,
        "description": f"payment {tid}",
        "raw": {"id": tid},
    }
    values.update(kw)
    return TransactionData(**values)


@dataclass
class FakeBank:
    accounts: list[AccountData] = field(default_factory=list)
    balances: dict[str, list[BalanceData]] = field(default_factory=dict)
    transactions: dict[str, dict[str, TransactionData]] = field(default_factory=dict)
    # cursor dialect: the change log; a cursor is an index into it
    log: list[tuple[str, object]] = field(default_factory=list)
    page_size: int = 2
    # method name -> exception to raise (once, unless in `errors_always`)
    errors: dict[str, Exception] = field(default_factory=dict)
    errors_always: set[str] = field(default_factory=set)
    # raise after this many pages were served by iter_transactions (a crash mid-sync)
    fail_after_pages: int | None = None
    fail_with: Exception | None = None
    calls: list[tuple] = field(default_factory=list)
    refreshed: int = 0

    current: ClassVar[FakeBank | None] = None  # the bank the adapters talk to (set by the fixture)

    # -- test helpers --
    def add_account(self, pid: str = "acc-1", currency: str = "GBP") -> AccountData:
        data = AccountData(provider_account_id=pid, display_name=f"Account {pid}", type="current", currency=currency)
        self.accounts.append(data)
        self.transactions.setdefault(pid, {})
        self.balances[pid] = [
            BalanceData(
                provider_account_id=pid,
                type="booked",
                amount=Decimal("100.00"),
                currency=currency,
                as_of=dt.datetime(2026, 1, 1, tzinfo=UTC),
            )
        ]
        return data

    def put(self, *items: TransactionData) -> None:
        for item in items:
            self.transactions.setdefault(item.provider_account_id, {})[item.provider_transaction_id] = item
            self.log.append(("upsert", item))

    def drop(self, account: str, tid: str) -> None:
        self.transactions[account].pop(tid)
        self.log.append(("remove", tid))

    def post(self, account: str, pending_id: str, booked_id: str, *, day: int | None = None) -> TransactionData:
        """The pending item posts: it vanishes and a booked one with a new id links back to it."""
        pending = self.transactions[account][pending_id]
        booked = replace(
            pending,
            provider_transaction_id=booked_id,
            status="booked",
            pending_transaction_id=pending_id,
            raw={"id": booked_id},
        )
        if day is not None:
            booked = replace(booked, booking_date=dt.date(2026, 1, 1) + dt.timedelta(days=day - 1))
        self.drop(account, pending_id)
        self.put(booked)
        return booked

    def _maybe_fail(self, method: str) -> None:
        self.calls.append((method,))
        if method in self.errors:
            exc = self.errors[method] if method in self.errors_always else self.errors.pop(method)
            raise exc


def bank() -> FakeBank:
    assert FakeBank.current is not None, "use the fake_bank fixture"
    return FakeBank.current


class _FakeAdapter(BankAdapter):
    def start_authorization(self, *, redirect_uri: str, user_hint: str = "") -> AuthorizationRequest:
        return AuthorizationRequest(url="https://fake.invalid/authorize", state="state")

    def exchange_code(self, *, code: str, redirect_uri: str, auth: AuthorizationRequest) -> Credentials:
        return Credentials(access_token="access", refresh_token="refresh")

    def refresh(self, credentials: Credentials) -> Credentials:
        bank()._maybe_fail("refresh")
        bank().refreshed += 1
        return Credentials(
            access_token=f"access-{bank().refreshed}",
            refresh_token=f"refresh-{bank().refreshed}",
            expires_at=dt.datetime.now(UTC) + dt.timedelta(hours=1),
        )

    def list_accounts(self, credentials: Credentials) -> list[AccountData]:
        bank()._maybe_fail("list_accounts")
        return list(bank().accounts)

    def get_balances(self, credentials: Credentials, account: AccountData) -> list[BalanceData]:
        bank()._maybe_fail("get_balances")
        return list(bank().balances.get(account.provider_account_id, []))


class FakeWindowAdapter(_FakeAdapter):
    name = "fake_window"
    sync_mode = "window"

    def iter_transactions(
        self, credentials, account, *, since=None, until=None, cursor=""
    ) -> Iterator[TransactionPage]:
        b = bank()
        b._maybe_fail("iter_transactions")
        b.calls.append(("window", account.provider_account_id, since))
        items = sorted(
            (
                t
                for t in b.transactions.get(account.provider_account_id, {}).values()
                if since is None or t.booking_date >= since
            ),
            key=lambda t: (t.booking_date, t.provider_transaction_id),
        )
        pages = [items[i : i + b.page_size] for i in range(0, len(items), b.page_size)] or [[]]
        for n, page in enumerate(pages):
            if b.fail_after_pages is not None and n >= b.fail_after_pages:
                raise b.fail_with or RuntimeError("crash")
            yield TransactionPage(transactions=tuple(page), has_more=n < len(pages) - 1, page_token=str(n + 1))


class FakeLimitedAdapter(FakeWindowAdapter):
    name = "fake_limited"
    unattended_calls_per_day = 4


class FakeCursorAdapter(_FakeAdapter):
    name = "fake_cursor"
    sync_mode = "cursor"
    cursor_spans_accounts = True

    def iter_transactions(
        self, credentials, account, *, since=None, until=None, cursor=""
    ) -> Iterator[TransactionPage]:
        b = bank()
        b._maybe_fail("iter_transactions")
        b.calls.append(("cursor", cursor))
        start = int(cursor or 0)
        n = 0
        while True:
            chunk = b.log[start : start + b.page_size]
            if b.fail_after_pages is not None and n >= b.fail_after_pages:
                raise b.fail_with or RuntimeError("crash")
            added = tuple(item for kind, item in chunk if kind == "upsert")
            removed = tuple(item for kind, item in chunk if kind == "remove")
            start += len(chunk)
            more = start < len(b.log)
            yield TransactionPage(transactions=added, removed_ids=removed, has_more=more, next_cursor=str(start))
            n += 1
            if not more:
                return


# --- fixtures (import them into a test module) ----------------------------------------------------------
@pytest.fixture
def fake_bank(settings):  # type: ignore[no-untyped-def]
    """A fresh in-memory bank, with the fake adapters registered next to the real ones."""
    settings.AGGREGATOR = {**settings.AGGREGATOR, "ADAPTERS": ADAPTER_PATHS, "ADAPTER_ENTRY_POINT_GROUP": ""}
    FakeBank.current = FakeBank()
    yield FakeBank.current
    FakeBank.current = None


def make_connection(provider: str = "fake_window", **kwargs):  # type: ignore[no-untyped-def]
    """A connection at an institution served by ``provider``, holding valid (encrypted) credentials."""
    from aggregator.connections.credentials import credentials_store
    from tests.factories import ConnectionFactory, InstitutionFactory

    institution = InstitutionFactory(slug=f"{provider.replace('_', '-')}-bank", provider=provider)
    connection = ConnectionFactory(institution=institution, **kwargs)
    credentials_store(
        connection=connection,
        credentials=Credentials(
            access_token="access",
            refresh_token="refresh",
            expires_at=dt.datetime.now(UTC) + dt.timedelta(hours=1),
        ),
    )
    return connection
