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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import BooleanField, Case, F, Q, Value, When
from django.utils import timezone

from aggregator.compliance.clock import compliance_now
from aggregator.exceptions import InvalidInputError
from aggregator.models import Account, Transaction

from .conf import insights_settings
from .derived import HISTORY_COLUMNS, fast_columns, history_rows, signals_refresh, streams_refresh
from .engine import enrich
from .features import FEATURES_VERSION, TxnInput
from .model import CategoryModel, load_model
from .models import CategoryCorrection, Counterparty, RecurringStream, TransactionEnrichment
from .recurring import is_overdue
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

# The enrichment's inputs, then what the streams and signals read (kept current in memory after enriching: the
# history is not read a second time)
_COLUMNS = (
    "status",
    "merchant_name",
    "counterparty_name",
    "merchant_category_code",
    "stale",
    *HISTORY_COLUMNS,
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
            .values(*_COLUMNS, **fast_columns())
        )
        stale = [r for r in rows if r["stale"]]
        if not stale:
            if _overdue_accounts(account_id=account.pk, today=today):
                history = history_rows(account)
                result.streams += streams_refresh(account, today=today, rows=history)
                result.signals += signals_refresh(account, today=today, now=now, rows=history)
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
        result.streams += streams_refresh(account, today=today, rows=history)
        result.signals += signals_refresh(account, today=today, now=now, rows=history)
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
        streams_refresh(account, today=insights_today())
    return enrichment.counterparty
