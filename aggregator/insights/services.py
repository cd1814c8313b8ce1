"""Insights services: enrich an account's transactions in bulk, recompute its recurring streams and risk signals,
and record a user's category correction. Idempotent: running twice leaves the same rows.

What is stale is decided per row: no enrichment yet, enrichment from another model or taxonomy version, or a
transaction changed after it was enriched. Streams and signals are recomputed from the whole booked history of
an account that had any stale row (a few thousand rows: milliseconds), so they never drift from the data.
Events: ``recurring.updated`` (streams of an account appeared, changed or ended) and ``risk_signal.detected``
(a new signal at or above ``INSIGHTS["WEBHOOK_MIN_SCORE"]``), published in the service's transaction.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import BooleanField, Case, F, Q, Value, When
from django.utils import timezone

from aggregator.compliance.clock import compliance_now
from aggregator.domain_events import DomainEvent, publish
from aggregator.exceptions import InvalidInputError
from aggregator.models import Account, Balance, Transaction

from .conf import insights_settings
from .engine import enrich
from .features import FEATURES_VERSION, TxnInput
from .model import CategoryModel, load_model
from .models import CategoryCorrection, Counterparty, RecurringStream, RiskSignal, TransactionEnrichment
from .normalise import counterparty_key
from .recurring import StreamInput, StreamResult, detect_streams, is_overdue
from .signals import FlowInput, SignalInput, balance_risk, income_stability, transaction_signals
from .store import enrichments_store
from .taxonomy import taxonomy

__all__ = [
    "RefreshResult",
    "current_model",
    "insights_category_correct",
    "insights_refresh_accounts",
    "insights_streams_review",
    "insights_today",
    "model_path",
]

logger = logging.getLogger(__name__)

_FREQUENCY_DAYS = {"weekly": 7, "biweekly": 14, "semi_monthly": 15, "monthly": 30, "annually": 365}
_INCOME = ("income.wages", "income.retirement_pension", "income.unemployment", "income.interest_earned")
_COLUMNS = (
    "id",
    "public_id",
    "account_id",
    "status",
    "booking_date",
    "booked_at",
    "amount",
    "description",
    "merchant_name",
    "counterparty_name",
    "bank_transaction_code",
    "merchant_category_code",
    "stale",
    # what the streams and signals read (_history), kept current in memory after enriching: no second read
    "enrichment__category_detailed",
    "enrichment__counterparty__key",
    "enrichment__counterparty__name",
    "enrichment__counterparty__type",
    "enrichment__counterparty_id",
)


def model_path() -> Path:
    return Path(insights_settings.MODEL_PATH or Path(settings.DATA_DIR) / "insights" / "model.joblib")


@functools.lru_cache(maxsize=2)
def _load(path: str, mtime: float) -> CategoryModel | None:
    return load_model(Path(path))


def current_model() -> CategoryModel | None:
    """The trained model on disk (re-read when the file changes), or None without one."""
    path = model_path()
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    model = _load(str(path), mtime)
    if model is not None and model.taxonomy_version != taxonomy().version:
        logger.warning("insights model %s was trained on another taxonomy version; ignored", path)
        return None
    if model is not None and model.features_version != FEATURES_VERSION:
        logger.warning("insights model %s was trained on other features; ignored (run insights_train)", path)
        return None
    return model


def insights_today() -> date:
    """Today on the compliance clock (the sandbox clock when the sandbox banks are on): the date streams are
    due, overdue and tombstoned by, so ``sandbox_clock --advance`` past a missed payment ends a stream."""
    return compliance_now().date()


@dataclass
class RefreshResult:
    enriched: int = 0
    streams: int = 0
    signals: int = 0


def _input(row: dict[str, Any], bank_name: str) -> TxnInput:
    return TxnInput(
        key=row["id"],
        description=row["description"],
        amount=row["amount"],
        merchant_name=row["merchant_name"],
        counterparty_name=row["counterparty_name"],
        bank_transaction_code=row["bank_transaction_code"],
        merchant_category_code=row["merchant_category_code"],
        bank_name=bank_name,
    )


def _corrections(user_id: int) -> dict[str, str]:
    return dict(
        CategoryCorrection.objects.filter(user_id=user_id).values_list("counterparty__key", "category_detailed")
    )


@transaction.atomic
def insights_refresh_accounts(
    *, account_ids: Sequence[int], force: bool = False, today: date | None = None
) -> RefreshResult:
    """Enrich what is stale in these accounts (everything with ``force``), then recompute their streams and
    signals. ``today`` (default: :func:`insights_today`, the compliance clock) decides which streams are overdue;
    an account with nothing stale is still re-evaluated when one of its active streams has become overdue."""
    model = current_model()
    version = taxonomy().version
    model_version = model.version if model else ""
    now = timezone.now()
    today = today or insights_today()
    result = RefreshResult()
    accounts = Account.objects.filter(pk__in=account_ids).select_related("connection__institution")
    for account in accounts:
        rows = list(
            Transaction.objects.filter(account_id=account.pk, removed_at__isnull=True)
            .annotate(stale=_stale(force=force, model_version=model_version, taxonomy_version=version))
            .order_by("booking_date", "id")
            .values(*_COLUMNS)
        )
        stale = [r for r in rows if r["stale"]]
        if not stale:
            if _overdue_accounts(account_id=account.pk, today=today):
                history = _history(account)
                result.streams += _refresh_streams(account, today=today, rows=history)
                result.signals += _refresh_signals(account, today=today, now=now, rows=history)
            continue
        corrections = _corrections(account.connection.user_id)
        bank_name = account.connection.institution.name
        # labelled in one call (the model scores each distinct text of the account once), stored in batches
        labelled = enrich([_input(r, bank_name) for r in stale], model=model, corrections=corrections)
        batch = int(insights_settings.BATCH_SIZE)
        for start in range(0, len(stale), batch):
            chunk, found = stale[start : start + batch], labelled[start : start + batch]
            ids = enrichments_store(found, taxonomy_version=version, model_version=model_version, now=now)
            for r, e in zip(chunk, found, strict=True):
                r["enrichment__category_detailed"] = e.detailed
                r["enrichment__counterparty__key"] = e.counterparty.key or None
                r["enrichment__counterparty__name"] = e.counterparty.name if e.counterparty.key else None
                r["enrichment__counterparty__type"] = e.counterparty.type if e.counterparty.key else None
                r["enrichment__counterparty_id"] = ids.get(e.counterparty.key)
        result.enriched += len(stale)
        history = [r for r in rows if r["status"] == Transaction.Status.BOOKED]
        result.streams += _refresh_streams(account, today=today, rows=history)
        result.signals += _refresh_signals(account, today=today, now=now, rows=history)
    return result


def _stale(*, force: bool, model_version: str, taxonomy_version: str) -> Case:
    """Whether a transaction needs (re-)enriching, decided in the query (no timestamps to read and parse): no
    enrichment, another model or taxonomy version, or a change after it was enriched; everything with ``force``."""
    if force:
        return Case(default=Value(True), output_field=BooleanField())
    return Case(
        When(
            Q(enrichment__updated_at__isnull=True)
            | ~Q(enrichment__model_version=model_version)
            | ~Q(enrichment__taxonomy_version=taxonomy_version)
            | Q(updated_at__gt=F("enrichment__updated_at")),
            then=Value(True),
        ),
        default=Value(False),
        output_field=BooleanField(),
    )


def _overdue_accounts(*, account_id: int | None = None, today: date) -> set[int]:
    """Accounts (this one, or all) with an active stream whose expected occurrence is now missed."""
    streams = RecurringStream.objects.filter(is_active=True)
    if account_id is not None:
        streams = streams.filter(account_id=account_id)
    rows = streams.filter(predicted_next_date__lt=today).values_list("account_id", "frequency", "predicted_next_date")
    return {a for a, frequency, predicted in rows if is_overdue(frequency, predicted, today)}


@transaction.atomic
def insights_streams_review(*, today: date | None = None) -> int:
    """Tombstone the streams whose expected occurrence has been missed by ``today`` (default: the compliance
    clock), recomputing their accounts' streams and signals (``recurring.updated`` for each). Returns how many
    accounts were re-evaluated. Periodic (``insights.review_streams``): no sync needs to bring anything new."""
    today = today or insights_today()
    account_ids = sorted(_overdue_accounts(today=today))
    if account_ids:
        insights_refresh_accounts(account_ids=account_ids, today=today)
    return len(account_ids)


def _history(account: Account) -> list[dict[str, Any]]:
    return list(
        Transaction.objects.filter(account_id=account.pk, removed_at__isnull=True, status=Transaction.Status.BOOKED)
        .order_by("booking_date", "id")
        .values(
            "id",
            "public_id",
            "booking_date",
            "booked_at",
            "amount",
            "description",
            "bank_transaction_code",
            "enrichment__category_detailed",
            "enrichment__counterparty__key",
            "enrichment__counterparty__name",
            "enrichment__counterparty__type",
            "enrichment__counterparty_id",
        )
    )


def _refresh_streams(account: Account, *, today: date, rows: list[dict[str, Any]] | None = None) -> int:
    rows = _history(account) if rows is None else rows
    holder = counterparty_key(account.holder_name) if account.holder_name else ""
    public = {r["id"]: r["public_id"] for r in rows}  # str() only for the few rows named
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


def _refresh_signals(account: Account, *, today: date, now: datetime, rows: list[dict[str, Any]]) -> int:
    public = {r["id"]: r["public_id"] for r in rows}  # str() only for the few rows named
    found = transaction_signals(
        [
            SignalInput(
                key=r["id"],
                at=r["booked_at"] or datetime.combine(r["booking_date"], datetime.min.time(), tzinfo=UTC),
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
    recurring_ids = {uuid.UUID(t) for s in streams for t in s.transaction_ids}
    spend: dict[date, Decimal] = defaultdict(Decimal)
    for r in rows:
        if r["booking_date"] >= since and r["amount"] < 0 and r["public_id"] not in recurring_ids:
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
    income_ids = {uuid.UUID(t) for s in income_streams for t in s.transaction_ids}
    first_month = (today.replace(day=1) - timedelta(days=180)).replace(day=1)
    for r in rows:
        if r["public_id"] in income_ids and first_month <= r["booking_date"] < today.replace(day=1):
            months[(r["booking_date"].year, r["booking_date"].month)] += r["amount"]
    if income_streams:
        signals.append(income_stability(monthly_income=list(months.values()), streams=len(income_streams)))
    return signals


@transaction.atomic
def insights_category_correct(*, transaction_obj: Transaction, category_detailed: str, user_id: int) -> Counterparty:
    """Record ``category_detailed`` as the user's category for this transaction's counterparty, and relabel every
    transaction of that counterparty in the user's accounts (source ``user``). Raises ``InvalidInputError`` for
    an unknown category or a transaction without a counterparty."""
    if category_detailed not in taxonomy():
        raise InvalidInputError(
            f"Unknown category {category_detailed!r}; see the taxonomy in the documentation.",
            code="category_unknown",
            field="category",
        )
    enrichment = (
        TransactionEnrichment.objects.filter(transaction=transaction_obj).select_related("counterparty").first()
    )
    if enrichment is None:
        insights_refresh_accounts(account_ids=[transaction_obj.account_id])
        enrichment = TransactionEnrichment.objects.select_related("counterparty").get(transaction=transaction_obj)
    if enrichment.counterparty is None:
        raise InvalidInputError(
            "This transaction has no counterparty to attach a category to.", code="category_not_correctable"
        )
    CategoryCorrection.objects.update_or_create(
        user_id=user_id, counterparty=enrichment.counterparty, defaults={"category_detailed": category_detailed}
    )
    tax = taxonomy().get(category_detailed)
    now = timezone.now()
    TransactionEnrichment.objects.filter(
        counterparty=enrichment.counterparty, transaction__account__connection__user_id=user_id
    ).update(
        category_primary=tax.primary,
        category_detailed=category_detailed,
        source=TransactionEnrichment.Source.USER,
        confidence=TransactionEnrichment.Confidence.VERY_HIGH,
        probability=1.0,
        updated_at=now,
    )
    accounts = Account.objects.filter(
        connection__user_id=user_id, transactions__enrichment__counterparty=enrichment.counterparty
    ).distinct()
    for account in accounts:
        _refresh_streams(account, today=insights_today())
    return enrichment.counterparty
