"""Payments in the bank's ground truth: the debits that payments put on their debtor accounts, merged into the
generated history (``providers.sandbox.bankdata`` adds them to every transaction list and balance, so the
banks' AIS endpoints and ``sandbox_export`` show them)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from ..data.records import SandboxBalance, SandboxTransaction
from ..data.views import ChainView, SliceView
from .lifecycle import payment_entries
from .models import SandboxPayment

__all__ = ["account_payment_entries", "balances_with_payments", "merge_entries"]


def account_payment_entries(bank: str, username: str, account_id: str, *, now: datetime) -> list[SandboxTransaction]:
    """Every entry the bank's payments show on the account at ``now`` (booked and pending), oldest first."""
    if bank not in {"albion", "rhein"}:
        return []
    rows = SandboxPayment.objects.filter(
        bank=bank, username=username, debtor_account_id=account_id, submitted_at__isnull=False, submitted_at__lte=now
    ).order_by("submitted_at", "id")
    entries = [entry for row in rows for entry in payment_entries(row, now)]
    return sorted(entries, key=lambda t: (t.booked_at, t.id))


def merge_entries(
    booked: Sequence[SandboxTransaction],
    pending: Sequence[SandboxTransaction],
    extra: Sequence[SandboxTransaction],
) -> Sequence[SandboxTransaction]:
    """The account's booked items with the payments' booked entries in their place (by time, then id), then
    the pending items and the payments' pending entries — the order the generated history uses — lazily (the
    big accounts' items are built only when read)."""
    parts: list[Sequence[SandboxTransaction]] = []
    start = 0
    for entry in (e for e in extra if e.status == "booked"):
        at = bisect_right(booked, (entry.booked_at, entry.id), lo=start, key=lambda t: (t.booked_at, t.id))
        parts += [SliceView(booked, start, at), [entry]]
        start = at
    parts += [SliceView(booked, start, len(booked)), pending, [e for e in extra if e.status == "pending"]]
    return ChainView(parts)


def balances_with_payments(
    balances: Sequence[SandboxBalance], entries: Sequence[SandboxTransaction]
) -> list[SandboxBalance]:
    """Balances moved by the payments' entries: booked by the booked ones, available and expected by all."""
    booked = sum((e.amount for e in entries if e.status == "booked"), Decimal("0.00"))
    every = sum((e.amount for e in entries), Decimal("0.00"))
    moved = []
    for balance in balances:
        delta = booked if balance.type == "booked" else every
        moved.append(
            SandboxBalance(
                balance.account_id,
                balance.type,
                balance.amount + delta,
                balance.currency,
                balance.as_of,
                balance.credit_line_included,
            )
        )
    return moved
