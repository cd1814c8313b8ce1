"""Deterministic sandbox bank data: a pure function of (bank, username, moment), with no Django and no clock.

* :mod:`.records` — the frozen dataclasses (``SandboxAccount``, ``SandboxTransaction``, …) and ``BANKS``.
* :mod:`.catalog` — banks, users, accounts and merchants from ``fixtures/sandbox/``.
* :mod:`.generator` — seeded month-by-month transaction generation (integer cents, never floats).
* :mod:`.timeline` — cached per-account histories and what is visible at a moment (bisect, prefix sums).

Every time-dependent function takes ``now`` explicitly; :mod:`providers.sandbox.bankdata` is the public front
that adds the sandbox clock (``now`` defaults to ``sandbox_now()``). So this package imports, and answers, in a
process without Django set up (``python -m providers.sandbox.data.bench``).

Unknown banks, users and accounts raise :class:`LookupError` subclasses (``UnknownBank``, ``UnknownUser``,
``UnknownAccount``) whose message lists the valid choices.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from .catalog import UnknownAccount, UnknownBank, UnknownUser, account_plan, account_plans, bank_info, users
from .records import BANKS, SandboxAccount, SandboxBalance, SandboxTransaction, SandboxUser
from .timeline import ChainView, timeline_for, to_timestamp

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
    "get_user",
    "transaction_changes_since",
    "user_accounts",
    "user_exists",
]


def user_exists(bank: str, username: str) -> bool:
    return bank in BANKS and get_user(username) is not None


def get_user(username: str) -> SandboxUser | None:
    """The user definition, or None for an unknown username."""
    return next((u for u in users() if u.username == username), None)


def all_users() -> Sequence[SandboxUser]:
    return users()


def user_accounts(bank: str, username: str) -> Sequence[SandboxAccount]:
    """The user's accounts at ``bank`` in fixture order (carol has none). Raises UnknownBank/UnknownUser."""
    bank_info(bank)
    return tuple(plan.account for plan in account_plans(bank, username))


def account_transactions(
    bank: str,
    username: str,
    account_id: str,
    *,
    now: datetime,
    booked_from: datetime | None = None,
    booked_to: datetime | None = None,
    status: str | None = None,
) -> Sequence[SandboxTransaction]:
    """Every transaction the bank shows at ``now``, oldest first (by ``booked_at`` then id), both booked and
    pending, as a lazy sequence (see TransactionView): fast for 100k+ rows (a cached per-account timeline,
    bisect on times, objects built only for the rows read; slice it for pages, avoid list() on big accounts).

    ``booked_from``/``booked_to`` (inclusive) apply to ``booked_at`` (for pending items: the authorisation time);
    ``status`` keeps only "booked" or only "pending" items.
    """
    if status not in (None, "booked", "pending"):
        raise ValueError(f"status must be 'booked', 'pending' or None, not {status!r}")
    ts = to_timestamp(now)
    start = None if booked_from is None else to_timestamp(booked_from)
    end = None if booked_to is None else to_timestamp(booked_to)
    return timeline_for(account_plan(bank, username, account_id), ts).visible(ts, start, end, status=status)


def account_balances(bank: str, username: str, account_id: str, *, now: datetime) -> Sequence[SandboxBalance]:
    """``booked`` (closing booked = opening + booked amounts), ``available`` (booked + pending, plus the credit
    limit for credit cards, with ``credit_line_included``) and ``expected`` (booked + pending), as of ``now``."""
    ts = to_timestamp(now)
    return timeline_for(account_plan(bank, username, account_id), ts).balances(ts, now)


def transaction_changes_since(
    bank: str,
    username: str,
    *,
    since: datetime | None,
    now: datetime,
    account_ids: Collection[str] | None = None,
) -> tuple[Sequence[SandboxTransaction], Sequence[SandboxTransaction], Sequence[str]]:
    """(added, modified, removed_ids) across the user's accounts (account order, each oldest first), or only
    the accounts in ``account_ids`` when given (unknown ids are ignored).

    * ``since=None``: added = everything visible at ``now``; nothing modified or removed.
    * otherwise added = booked items posted in ``(since, now]`` plus pending items authorised in ``(since, now]``
      and still pending at ``now``; removed = ids of pending items visible at ``since`` that posted or were
      cancelled by ``now`` (a posted one reappears in added under a new id with ``pending_transaction_id``).
    * modified is always empty: sandbox items never change while keeping their id. A tip added to a restaurant
      bill shows only in the booked item's amount (new id), as with real card schemes.
    """
    ts = to_timestamp(now)
    since_ts = None if since is None else to_timestamp(since)
    if since_ts is not None and since_ts > ts:
        raise ValueError(f"since ({since.isoformat()}) is after now ({now.isoformat()})")  # type: ignore[union-attr]
    added = []
    removed: list[str] = []
    for plan in account_plans(bank, username):
        if account_ids is not None and plan.account.id not in account_ids:
            continue
        timeline = timeline_for(plan, ts)
        if since_ts is None:
            added.append(timeline.visible(ts))
        else:
            view, gone = timeline.changes(since_ts, ts)
            added.append(view)
            removed += gone
    return ChainView(added), (), removed
