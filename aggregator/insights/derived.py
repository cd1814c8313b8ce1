"""Streams and signals of one account, recomputed from its booked history (the rows the enrichment just read, or
:func:`history_rows`), stored, and announced (``recurring.updated``, ``risk_signal.detected``). Called by the
services in :mod:`.services`, inside their transaction."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection as db
from django.db.models import CharField, DateTimeField, F, Func
from django.db.models.functions import Cast

from aggregator.domain_events import DomainEvent, publish
from aggregator.models import Account, Balance, Transaction

from .conf import insights_settings
from .models import RecurringStream, RiskSignal
from .normalise import counterparty_key
from .recurring import StreamInput, StreamResult, detect_streams
from .signals import FlowInput, SignalInput, balance_risk, income_stability, transaction_signals

__all__ = ["HISTORY_COLUMNS", "booked_at", "fast_columns", "history_rows", "signals_refresh", "streams_refresh"]

_FREQUENCY_DAYS = {"weekly": 7, "biweekly": 14, "semi_monthly": 15, "monthly": 30, "annually": 365}
_INCOME = ("income.wages", "income.retirement_pension", "income.unemployment", "income.interest_earned")


# What the streams and signals read of each booked transaction (besides the ``fast_columns`` below).
HISTORY_COLUMNS = (
    "id",
    "booking_date",
    "amount",
    "description",
    "bank_transaction_code",
    "enrichment__category_detailed",
    "enrichment__counterparty__key",
    "enrichment__counterparty__name",
    "enrichment__counterparty__type",
    "enrichment__counterparty_id",
)


def fast_columns() -> dict[str, Any]:
    """``public`` (the transaction's public id) and ``at`` (when it was booked), read in the forms the database
    driver loads fastest: on PostgreSQL the id as text and the time as UTC wall time (the timestamptz and uuid
    loaders are several times slower, which a first sync of 100k+ rows feels); elsewhere the fields themselves.
    Readers treat ``public`` with ``str()`` and a naive ``at`` as UTC (:func:`booked_at`)."""
    if db.vendor == "postgresql":
        utc = Func(F("booked_at"), template="(%(expressions)s AT TIME ZONE 'UTC')", output_field=DateTimeField())
        return {"public": Cast("public_id", CharField()), "at": utc}
    return {"public": F("public_id"), "at": F("booked_at")}


def booked_at(row: dict[str, Any]) -> datetime:
    """When the row was booked, timezone-aware (UTC); the booking date at midnight when the bank gave no time."""
    at = row["at"]
    if at is None:
        return datetime.combine(row["booking_date"], datetime.min.time(), tzinfo=UTC)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def history_rows(account: Account) -> list[dict[str, Any]]:
    return list(
        Transaction.objects.filter(account_id=account.pk, removed_at__isnull=True, status=Transaction.Status.BOOKED)
        .order_by("booking_date", "id")
        .values(*HISTORY_COLUMNS, **fast_columns())
    )


def streams_refresh(account: Account, *, today: date, rows: list[dict[str, Any]] | None = None) -> int:
    rows = history_rows(account) if rows is None else rows
    holder = counterparty_key(account.holder_name) if account.holder_name else ""
    public = {r["id"]: r["public"] for r in rows}  # str() only for the few rows named
    cp_ids = {r["enrichment__counterparty__key"]: r["enrichment__counterparty_id"] for r in rows}
    found = detect_streams(
        [
            StreamInput(
                key=r["id"],
                booking_date=r["booking_date"],
                amount=r["amount"],
                counterparty_key=r["enrichment__counterparty__key"] or "",
                counterparty_name=r["enrichment__counterparty__name"] or "",
                description=r["description"],
                category=r["enrichment__category_detailed"] or "",
                own_account=bool(holder) and r["enrichment__counterparty__key"] == holder,
            )
            for r in rows
        ],
        today=today,
    )
    existing = {s.stream_key: s for s in RecurringStream.objects.filter(account=account)}
    changed: list[RecurringStream] = []
    for s in found:
        values = _stream_values(s, account, cp_ids.get(s.counterparty_key), public)
        current = existing.pop(s.stream_key, None)
        if current is None:
            changed.append(RecurringStream.objects.create(account=account, stream_key=s.stream_key, **values))
        elif any(getattr(current, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(current, k, v)
            current.save()
            changed.append(current)
    gone = list(existing.values())
    if gone:
        RecurringStream.objects.filter(pk__in=[s.pk for s in gone]).delete()
    if changed or gone:
        publish(
            DomainEvent(
                name="recurring.updated",
                subject_type="account",
                subject_id=str(account.public_id),
                data={
                    "account_id": str(account.public_id),
                    "streams": [
                        {"stream_id": str(s.public_id), "status": s.status, "is_active": s.is_active} for s in changed
                    ],
                    "removed_stream_ids": [str(s.public_id) for s in gone],
                },
            )
        )
    return len(found)


def _stream_values(s: StreamResult, account: Account, counterparty_id: int | None, public: dict) -> dict[str, Any]:
    return {
        "counterparty_id": counterparty_id,
        "direction": s.direction,
        "description": s.description,
        "category_detailed": s.category,
        "frequency": s.frequency,
        "average_amount": s.average_amount,
        "last_amount": s.last_amount,
        "currency": account.currency,
        "first_date": s.first_date,
        "last_date": s.last_date,
        "predicted_next_date": s.predicted_next_date,
        "status": s.status,
        "is_active": s.is_active,
        "transaction_ids": [str(public[k]) for k in s.transaction_keys],
    }


def signals_refresh(account: Account, *, today: date, now: datetime, rows: list[dict[str, Any]]) -> int:
    public = {r["id"]: r["public"] for r in rows}  # str() only for the few rows named
    found = transaction_signals(
        [
            SignalInput(
                key=r["id"],
                at=booked_at(r),
                amount=r["amount"],
                counterparty_key=r["enrichment__counterparty__key"] or "",
                counterparty_type=r["enrichment__counterparty__type"] or "",
                category=r["enrichment__category_detailed"] or "",
                is_card=r["bank_transaction_code"].endswith("CCRD-POSD"),
            )
            for r in rows
        ]
    )
    wanted: dict[tuple[str, str], dict[str, Any]] = {}
    for sig in found:
        wanted[(sig.kind, str(public[sig.key]))] = {
            "transaction_id": sig.key,
            "score": sig.score,
            "reason": sig.reason,
            "transaction_ids": [str(public[k]) for k in sig.related],
            "details": {},
        }
    for sig in _account_signals(account, rows, today=today):
        wanted[(sig.kind, "")] = {
            "transaction_id": None,
            "score": sig.score,
            "reason": sig.reason,
            "transaction_ids": [str(public[k]) for k in sig.related],
            "details": sig.details,
        }
    existing = {(s.kind, s.subject_key): s for s in RiskSignal.objects.filter(account=account)}
    new: list[RiskSignal] = []
    changed: list[RiskSignal] = []
    for (kind, subject), values in wanted.items():
        current = existing.pop((kind, subject), None)
        if current is None:
            new.append(RiskSignal(account=account, kind=kind, subject_key=subject, detected_at=now, **values))
        elif any(getattr(current, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(current, k, v)
            current.updated_at = now
            changed.append(current)
    RiskSignal.objects.bulk_create(new, batch_size=500)
    RiskSignal.objects.bulk_update(
        changed, ["transaction", "score", "reason", "transaction_ids", "details", "updated_at"], batch_size=500
    )
    if existing:
        RiskSignal.objects.filter(pk__in=[s.pk for s in existing.values()]).delete()
    threshold = float(insights_settings.WEBHOOK_MIN_SCORE)
    oldest = today - timedelta(days=int(insights_settings.WEBHOOK_MAX_AGE_DAYS))
    booked = {r["id"]: r["booking_date"] for r in rows}
    for sig in new:
        if sig.transaction_id is None or booked.get(sig.transaction_id, oldest) < oldest:
            continue  # account-level signals are served, not announced; old transactions are history
        if sig.score >= threshold:
            publish(
                DomainEvent(
                    name="risk_signal.detected",
                    subject_type="risk_signal",
                    subject_id=str(sig.public_id),
                    data={
                        "account_id": str(account.public_id),
                        "kind": sig.kind,
                        "score": sig.score,
                        "transaction_ids": sig.transaction_ids,
                    },
                )
            )
    return len(wanted)


def _account_signals(account: Account, rows: list[dict[str, Any]], *, today: date) -> list:
    streams = list(RecurringStream.objects.filter(account=account))
    since = today - timedelta(days=90)
    recurring_ids = set().union(*(s.transaction_ids for s in streams))  # public ids as text
    spend: dict[date, Decimal] = defaultdict(Decimal)
    for r in rows:
        if r["booking_date"] >= since and r["amount"] < 0 and str(r["public"]) not in recurring_ids:
            spend[r["booking_date"]] -= r["amount"]
    daily = [spend.get(since + timedelta(days=i), Decimal(0)) for i in range(90)]
    balance = (
        Balance.objects.filter(account=account, type__in=[Balance.Type.BOOKED, Balance.Type.EXPECTED])
        .order_by("-as_of")
        .values_list("amount", flat=True)
        .first()
    )
    signals = []
    if balance is not None and account.type != Account.Type.CREDIT_CARD:
        flows = [
            FlowInput(s.direction, s.average_amount, s.predicted_next_date, _FREQUENCY_DAYS[s.frequency], s.is_active)
            for s in streams
        ]
        signals.append(balance_risk(balance=balance, today=today, streams=flows, daily_spend=daily))
    income_streams = [s for s in streams if s.direction == "inflow" and s.category_detailed in _INCOME and s.is_active]
    months: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    income_ids = set().union(*(s.transaction_ids for s in income_streams))
    first_month = (today.replace(day=1) - timedelta(days=180)).replace(day=1)
    for r in rows:
        if first_month <= r["booking_date"] < today.replace(day=1) and str(r["public"]) in income_ids:
            months[(r["booking_date"].year, r["booking_date"].month)] += r["amount"]
    if income_streams:
        signals.append(income_stability(monthly_income=list(months.values()), streams=len(income_streams)))
    return signals
