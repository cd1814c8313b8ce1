"""What a sandbox bank holds for a sandbox user: the canonical, dialect-free ground truth, on the sandbox clock.

The three mock banks (``albion`` OBIE, ``rhein`` Berlin Group, ``liberty`` US cursor-delta) render this same
data in their own dialects; ``sandbox_export`` prints it; integration tests compare our ingested rows to it.

The generated history is a deterministic function of (bank, username, sandbox clock): the same inputs give the
same accounts, ids, amounts and texts on every machine. Payments initiated through the banks' PIS APIs are
persisted rows (``SandboxPayment``) whose debits are merged in (``with_payments=True``, the default): a pending
debit from the bank's acceptance, then a booked one when it settles, carrying the initiator's end-to-end id;
balances move with them (see ``providers.sandbox.payments``). Amounts are signed from the holder's point of view
(negative = money out). When the clock passes a pending item's posting time the pending item disappears and a
booked item with a *new* id appears, with ``pending_transaction_id`` pointing back.

This module is the public front: :mod:`providers.sandbox.data` computes the data for an explicit moment (no
Django, no clock) and :mod:`providers.sandbox.clock` keeps the persisted clock; here ``now`` defaults to
``sandbox_now()``. Imports run one way: records ← data ← bankdata, clock ← bankdata; nothing imports back up.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from . import data
from .clock import clock_advance, clock_reset, sandbox_now
from .data import (
    BANKS,
    SandboxAccount,
    SandboxBalance,
    SandboxTransaction,
    SandboxUser,
    UnknownAccount,
    UnknownBank,
    UnknownUser,
    all_users,
    bank_info,
    get_user,
    user_accounts,
    user_exists,
)
from .payments.ledger import account_payment_entries, balances_with_payments, merge_entries

__all__ = [
    "BANKS",
    "SandboxAccount",
    "SandboxBalance",
    "SandboxTransaction",
    "SandboxUser",
    "UnknownAccount",
    "UnknownBank",
    "UnknownUser",
    "account_balances",
    "account_transactions",
    "all_users",
    "bank_info",
    "clock_advance",
    "clock_reset",
    "get_user",
    "sandbox_now",
    "transaction_changes_since",
    "user_accounts",
    "user_exists",
]


def _at(now: datetime | None) -> datetime:
    return sandbox_now() if now is None else now


def account_transactions(
    bank: str,
    username: str,
    account_id: str,
    *,
    now: datetime | None = None,
    booked_from: datetime | None = None,
    booked_to: datetime | None = None,
    status: str | None = None,
    with_payments: bool = True,
) -> Sequence[SandboxTransaction]:
    """Every transaction the bank shows at ``now`` (default: sandbox_now()), oldest first, both booked and
    pending, optionally limited to ``booked_from <= booked_at <= booked_to`` and to one ``status``
    ("booked" | "pending"). Fast for 100k+ rows: a cached per-account timeline, bisect on times, and a lazy
    sequence that builds objects only for the rows read (slice it for pages; avoid list() on big accounts).
    ``with_payments``: merge in the debits of payments made at the bank (one database query; False gives the
    generated history alone, without touching the database). Unknown bank/user/account: LookupError."""
    moment = _at(now)
    base = data.account_transactions(
        bank, username, account_id, now=moment, booked_from=booked_from, booked_to=booked_to, status=status
    )
    extra = account_payment_entries(bank, username, account_id, now=moment) if with_payments else []
    extra = [
        e
        for e in extra
        if (booked_from is None or e.booked_at >= booked_from)
        and (booked_to is None or e.booked_at <= booked_to)
        and (status is None or e.status == status)
    ]
    if not extra:
        return base

    def part(which: str) -> Sequence[SandboxTransaction]:
        if status not in (None, which):
            return ()
        return data.account_transactions(
            bank, username, account_id, now=moment, booked_from=booked_from, booked_to=booked_to, status=which
        )

    return merge_entries(part("booked"), part("pending"), extra)


def account_balances(
    bank: str, username: str, account_id: str, *, now: datetime | None = None, with_payments: bool = True
) -> Sequence[SandboxBalance]:
    """Balances consistent with the transactions at ``now`` (default: sandbox_now()), payments included
    unless ``with_payments=False``."""
    moment = _at(now)
    balances = data.account_balances(bank, username, account_id, now=moment)
    if not with_payments:
        return balances
    entries = account_payment_entries(bank, username, account_id, now=moment)
    return balances_with_payments(balances, entries) if entries else balances


def transaction_changes_since(
    bank: str,
    username: str,
    *,
    since: datetime | None,
    now: datetime | None = None,
    account_ids: Collection[str] | None = None,
) -> tuple[Sequence[SandboxTransaction], Sequence[SandboxTransaction], Sequence[str]]:
    """(added, modified, removed_ids) across all the user's accounts (or only ``account_ids``) between ``since``
    (None = the beginning) and ``now`` (default: sandbox_now()); used by the cursor-delta bank. Pending→booked
    shows as removed (pending id) + added. ``modified`` is always empty (see
    providers.sandbox.data.transaction_changes_since)."""
    return data.transaction_changes_since(bank, username, since=since, now=_at(now), account_ids=account_ids)
