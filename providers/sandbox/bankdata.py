"""What a sandbox bank holds for a sandbox user: the canonical, dialect-free ground truth.

The three mock banks (``albion`` OBIE, ``rhein`` Berlin Group, ``liberty`` US cursor-delta) render this same
data in their own dialects; ``sandbox_export`` prints it; integration tests compare our ingested rows to it.

Everything is a deterministic function of (bank, username, sandbox clock): the same inputs give the same
accounts, ids, amounts and texts on every machine. Amounts are signed from the holder's point of view
(negative = money out). When the clock passes a pending item's posting time the pending item disappears and a
booked item with a *new* id appears, with ``pending_transaction_id`` pointing back.

This module is the interface; ``providers/sandbox/data/`` implements it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

__all__ = [
    "BANKS",
    "SandboxAccount",
    "SandboxBalance",
    "SandboxTransaction",
    "SandboxUser",
]

BANKS: tuple[str, ...] = ("albion", "rhein", "liberty")


@dataclass(frozen=True)
class SandboxUser:
    """A sandbox test user (same names at every bank), defined in ``fixtures/sandbox/users.json``.

    ``behaviour``: ``normal`` | ``flaky`` (seeded 429/500/503/slow/truncated responses) | ``expired`` (refresh
    token refused after the first sync) | ``locked`` (login refused).
    """

    username: str
    password: str
    full_name: str
    behaviour: str = "normal"
    seed: int = 0


@dataclass(frozen=True)
class SandboxAccount:
    id: str  # the bank's account id (stable)
    bank: str
    username: str
    type: str  # "current" | "savings" | "credit_card"
    currency: str
    name: str  # nickname / product name
    holder_name: str
    iban: str = ""  # rhein (and albion, as a secondary scheme)
    sort_code: str = ""  # albion: 6 digits
    account_number: str = ""  # albion: 8 digits; liberty: full number
    masked_pan: str = ""  # credit cards: e.g. "************1234"
    credit_limit: Decimal | None = None
    opened_on: date | None = None


@dataclass(frozen=True)
class SandboxTransaction:
    id: str
    account_id: str
    status: str  # "booked" | "pending"
    booked_at: datetime  # aware UTC; for pending items, the time of authorisation
    value_date: date
    amount: Decimal  # signed
    currency: str
    description: str
    merchant_name: str
    category: str
    counterparty_name: str
    bank_transaction_code: str  # e.g. "PMNT-ICDT-STDO" style (ISO 20022 domain-family-subfamily)
    pending_transaction_id: str = ""  # booked items that replaced a pending one

    @property
    def booking_date(self) -> date:
        return self.booked_at.date()


@dataclass(frozen=True)
class SandboxBalance:
    account_id: str
    type: str  # "booked" (closing booked) | "available" | "expected" (booked + pending)
    amount: Decimal
    currency: str
    as_of: datetime
    credit_line_included: bool = False


def _data():  # type: ignore[no-untyped-def]
    from . import data

    return data


def sandbox_now() -> datetime:
    """The sandbox clock: real UTC now plus the configured offset (see ``sandbox_clock``)."""
    return _data().sandbox_now()


def user_exists(bank: str, username: str) -> bool:
    return _data().user_exists(bank, username)


def get_user(username: str) -> SandboxUser | None:
    """The user definition, or None for an unknown username."""
    return _data().get_user(username)


def all_users() -> Sequence[SandboxUser]:
    return _data().all_users()


def clock_advance(seconds: int) -> datetime:
    """Move the sandbox clock forward (persisted in the database, shared by every process); returns the new now."""
    return _data().clock_advance(seconds)


def clock_reset() -> None:
    _data().clock_reset()


def bank_info(bank: str) -> dict:
    """The bank's definition from ``fixtures/sandbox/banks.json`` (name, country, routing number, …)."""
    from .data.catalog import bank_info as catalog_bank_info

    return catalog_bank_info(bank)


def user_accounts(bank: str, username: str) -> Sequence[SandboxAccount]:
    return _data().user_accounts(bank, username)


def account_transactions(
    bank: str,
    username: str,
    account_id: str,
    *,
    now: datetime | None = None,
    booked_from: datetime | None = None,
    booked_to: datetime | None = None,
    status: str | None = None,
) -> Sequence[SandboxTransaction]:
    """Every transaction the bank shows at ``now`` (default: sandbox_now()), oldest first, both booked and
    pending, optionally limited to ``booked_from <= booked_at <= booked_to`` and to one ``status``
    ("booked" | "pending"). Fast for 100k+ rows: a cached per-account timeline, bisect on times, and a lazy
    sequence that builds objects only for the rows read (slice it for pages; avoid list() on big accounts).
    Unknown bank/user/account: LookupError."""
    return _data().account_transactions(
        bank, username, account_id, now=now, booked_from=booked_from, booked_to=booked_to, status=status
    )


def account_balances(
    bank: str, username: str, account_id: str, *, now: datetime | None = None
) -> Sequence[SandboxBalance]:
    """Balances consistent with the transactions at ``now``."""
    return _data().account_balances(bank, username, account_id, now=now)


def transaction_changes_since(
    bank: str,
    username: str,
    *,
    since: datetime | None,
    now: datetime | None = None,
    account_ids: Collection[str] | None = None,
) -> tuple[Sequence[SandboxTransaction], Sequence[SandboxTransaction], Sequence[str]]:
    """(added, modified, removed_ids) across all the user's accounts (or only ``account_ids``) between ``since``
    (None = the beginning) and ``now``; used by the cursor-delta bank. Pending→booked shows as removed (pending
    id) + added. ``modified`` is always empty (see providers.sandbox.data.transaction_changes_since)."""
    return _data().transaction_changes_since(bank, username, since=since, now=now, account_ids=account_ids)
