"""Reads of the insights for a set of accounts (the API applies the consent before calling these)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, Sum

from aggregator.models import Transaction

from .models import RecurringStream, RiskSignal, TransactionEnrichment

__all__ = [
    "INCOME_CATEGORIES",
    "enrichment_for_transactions",
    "income_summary",
    "recurring_outflows_for_user",
    "risk_signal_list",
    "spending_by_category",
    "stream_list",
]

INCOME_CATEGORIES = (
    "income.wages",
    "income.retirement_pension",
    "income.unemployment",
    "income.interest_earned",
    "income.dividends",
    "income.other_income",
)


def enrichment_for_transactions(transaction_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Transaction key → its enrichment values (one query); transactions not enriched yet are absent."""
    ids = list(transaction_ids)
    if not ids:
        return {}
    rows = TransactionEnrichment.objects.filter(transaction_id__in=ids).values(
        "transaction_id",
        "category_primary",
        "category_detailed",
        "confidence",
        "source",
        "taxonomy_version",
        "counterparty__public_id",
        "counterparty__name",
        "counterparty__type",
    )
    return {r["transaction_id"]: r for r in rows}


def stream_list(*, accounts: QuerySet[Any]) -> QuerySet[RecurringStream]:
    return (
        RecurringStream.objects.filter(account__in=accounts)
        .select_related("account", "counterparty")
        .order_by("account_id", "direction", "-last_date", "id")
    )


def risk_signal_list(
    *, accounts: QuerySet[Any], kind: str | None = None, min_score: float | None = None
) -> QuerySet[RiskSignal]:
    qs = RiskSignal.objects.filter(account__in=accounts).select_related(
        "account", "transaction", "transaction__enrichment__counterparty"
    )
    if kind:
        qs = qs.filter(kind=kind)
    if min_score is not None:
        qs = qs.filter(score__gte=min_score)
    return qs.order_by("-score", "-detected_at", "id")


def income_summary(*, accounts: QuerySet[Any], today: date) -> list[dict[str, Any]]:
    """Income streams (salary, benefits, pensions, interest) with their pay frequency and what they brought in the
    last 90 days and 12 months."""
    streams = stream_list(accounts=accounts).filter(direction="inflow", category_detailed__in=INCOME_CATEGORIES)
    out = []
    for s in streams:
        base = Transaction.objects.filter(public_id__in=s.transaction_ids, removed_at__isnull=True)
        totals = {
            days: base.filter(booking_date__gt=today - timedelta(days=days)).aggregate(t=Sum("amount"))["t"]
            or Decimal(0)
            for days in (90, 365)
        }
        out.append({"stream": s, "total_90d": totals[90], "total_12m": totals[365]})
    return out


def spending_by_category(*, accounts: QuerySet[Any], since: date) -> list[tuple[str, str, Decimal]]:
    """(primary category, currency, money out) since ``since`` over these accounts' booked transactions, largest
    first; transfers between accounts and card repayments are not spending."""
    rows = (
        TransactionEnrichment.objects.filter(
            transaction__account__in=accounts,
            transaction__status=Transaction.Status.BOOKED,
            transaction__removed_at__isnull=True,
            transaction__booking_date__gte=since,
            transaction__amount__lt=0,
        )
        .exclude(category_primary__in=("transfer_out", "transfer_in", "loan_payments"))
        .values("category_primary", "transaction__currency")
        .annotate(total=Sum("transaction__amount"))
    )
    out = [(r["category_primary"], r["transaction__currency"], -r["total"]) for r in rows]
    return sorted(out, key=lambda r: (-r[2], r[0]))


def recurring_outflows_for_user(*, user_id: int) -> QuerySet[RecurringStream]:
    """The user's active recurring payments (subscriptions, bills, rent) across all their accounts."""
    return (
        RecurringStream.objects.filter(
            account__connection__user_id=user_id, direction="outflow", is_active=True, account__removed_at__isnull=True
        )
        .select_related("account", "counterparty")
        .order_by("predicted_next_date", "id")
    )
