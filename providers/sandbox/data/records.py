"""The sandbox's records: the frozen dataclasses every sandbox bank renders in its own dialect, and the banks.

A leaf: it imports nothing from the sandbox, so the data package, the bank views and the export all build on it.
Amounts are signed from the holder's point of view (negative = money out); datetimes are timezone-aware UTC.
"""

from __future__ import annotations

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

    ``payments`` (payment initiation): ``normal`` | ``slow`` (payments stay pending until the sandbox clock
    moves a day) | ``timeout_after_accept`` (the bank commits a new payment, then answers 504; a retry with the
    same idempotency key returns that payment).
    """

    username: str
    password: str
    full_name: str
    behaviour: str = "normal"
    seed: int = 0
    payments: str = "normal"


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
    end_to_end_id: str = ""  # a payment initiated through the bank's PIS API: the initiator's end-to-end id
    anomaly: str = ""  # ground truth: the kind of an injected anomaly (see generator.ANOMALY_KINDS), else ""

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
