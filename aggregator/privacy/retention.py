"""Retention: each kind of data is deleted once older than its period in ``AGGREGATOR["RETENTION_*"]``
(defaults in ``aggregator/conf.py``, the table in docs/privacy.md). Run hourly by ``retention_enforce_task``.

Deletes go in batches of ``RETENTION_BATCH_SIZE`` primary keys, each batch its own short transaction
(``DELETE … WHERE id IN (…)``, row locks only, never a table lock): the API and the sync keep running, and a run
that dies halfway leaves a consistent state the next run finishes. Running it twice deletes nothing more.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from aggregator.compliance.regimes import REGIMES, regime_for_institution
from aggregator.conf import aggregator_settings
from aggregator.insights.models import RiskSignal, TransactionEnrichment
from aggregator.models import Account, Balance, Connection, SyncRun, Transaction
from aggregator.payments.models import Payment
from aggregator.webhooks.models import WebhookDelivery, WebhookEvent
from consent.models import AccessLogEntry, ClockWarning, Consent

from .export import data_export_delete
from .models import DataExport

__all__ = [
    "retention_accounts_of_ended_consents",
    "retention_consents_past_evidence_period",
    "retention_delete_in_batches",
    "retention_enforce",
    "retention_orphans_sweep",
]

logger = logging.getLogger(__name__)


def retention_delete_in_batches(queryset: Any, *, batch: int | None = None) -> int:
    """Delete the rows of ``queryset`` ``batch`` primary keys at a time, one transaction per batch."""
    size = int(batch or aggregator_settings.RETENTION_BATCH_SIZE)
    model = queryset.model
    total = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return total
        with transaction.atomic():
            model.objects.filter(pk__in=ids).delete()
        total += len(ids)
        if len(ids) < size:
            return total


def retention_accounts_of_ended_consents(*, cutoff: dt.datetime) -> list[int]:
    """Accounts whose data no consent needs any more: no consent covers them now (authorised or awaiting), and
    the last consent that did ended before ``cutoff``; or no consent ever did and their bank was disconnected
    before ``cutoff``."""
    shared = Consent.accounts.through.objects.filter(account_id=OuterRef("pk"))
    live = shared.filter(consent__status__in=[Consent.Status.AUTHORISED, Consent.Status.AWAITING_AUTHORISATION])
    ended_lately = shared.filter(consent__status_changed_at__gte=cutoff)
    disconnected = Q(connection__status=Connection.Status.DISCONNECTED, connection__updated_at__lt=cutoff)
    accounts = Account.objects.filter(~Exists(live), ~Exists(ended_lately)).filter(Exists(shared) | disconnected)
    return list(accounts.order_by("pk").values_list("pk", flat=True))


def _years(years: int) -> dt.timedelta:
    return dt.timedelta(days=round(365.25 * years))


def retention_consents_past_evidence_period(*, now: dt.datetime) -> list[Any]:
    """Ended data consents whose evidence period is over: ``Regime.evidence_retention_years`` after the consent
    ended (US, 12 CFR 1033.441: 3 years; UK/EU: 5), the longest among the regimes of the banks it covered (a consent
    that never covered an account: the longest of all). Payment consents are not among them: the payment record
    keeps its consent (AML record keeping, docs/privacy.md)."""
    shortest = min(r.evidence_retention_years for r in REGIMES.values())
    longest = max(r.evidence_retention_years for r in REGIMES.values())
    candidates = (
        Consent.objects.filter(
            status__in=[Consent.Status.REVOKED, Consent.Status.EXPIRED, Consent.Status.REJECTED],
            payment_consent__isnull=True,
            status_changed_at__lt=now - _years(shortest),
        )
        .prefetch_related("accounts__connection__institution")
        .order_by("pk")
    )
    out = []
    for consent in candidates.iterator(chunk_size=200):
        regimes = {regime_for_institution(a.connection.institution) for a in consent.accounts.all()}
        years = max((r.evidence_retention_years for r in regimes), default=longest)
        if consent.status_changed_at < now - _years(years):
            out.append(consent.pk)
    return out


def retention_orphans_sweep() -> dict[str, int]:
    """Rows that name a transaction no longer there. On PostgreSQL the transactions table is partitioned and
    nothing can hold a database foreign key into it (aggregator/migrations/0013): Django's collector cascades every
    delete made through the ORM, and this sweep catches what a race left behind — an enrichment or a risk signal
    written by a task that read the transactions before they were erased, and committed after. Such rows are
    deleted (they are derived, possibly personal data); a payment keeps its record and loses the link."""
    exists = Transaction.objects.filter(pk=OuterRef("transaction_id"))
    swept = {
        "orphan_enrichments": retention_delete_in_batches(TransactionEnrichment.objects.filter(~Exists(exists))),
        "orphan_risk_signals": retention_delete_in_batches(
            RiskSignal.objects.filter(transaction_id__isnull=False).filter(~Exists(exists))
        ),
    }
    swept["orphan_payment_links"] = (
        Payment.objects.filter(transaction_id__isnull=False).filter(~Exists(exists)).update(transaction=None)
    )
    return swept


def retention_enforce(*, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    s = aggregator_settings
    deleted: dict[str, int] = {}

    cutoff = now - s.RETENTION_ENDED_CONSENT_TRANSACTIONS
    accounts = retention_accounts_of_ended_consents(cutoff=cutoff)
    deleted["transactions"] = deleted["balances"] = 0
    for start in range(0, len(accounts), 100):
        chunk = accounts[start : start + 100]
        deleted["transactions"] += retention_delete_in_batches(Transaction.objects.filter(account_id__in=chunk))
        deleted["balances"] += retention_delete_in_batches(Balance.objects.filter(account_id__in=chunk))

    deleted["access_log"] = retention_delete_in_batches(
        AccessLogEntry.objects.filter(at__lt=now - s.RETENTION_ACCESS_LOG)
    )
    deleted["sync_runs"] = retention_delete_in_batches(
        SyncRun.objects.filter(queued_at__lt=now - s.RETENTION_SYNC_RUNS).exclude(
            outcome__in=[SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING]
        )
    )
    webhook_cutoff = now - s.RETENTION_WEBHOOK_DELIVERIES
    deleted["webhook_deliveries"] = retention_delete_in_batches(
        WebhookDelivery.objects.filter(created_at__lt=webhook_cutoff).exclude(status=WebhookDelivery.Status.PENDING)
    )
    deleted["webhook_events"] = retention_delete_in_batches(
        WebhookEvent.objects.filter(created_at__lt=webhook_cutoff).exclude(
            Exists(WebhookDelivery.objects.filter(event_id=OuterRef("pk")))
        )
    )
    exports = DataExport.objects.filter(created_at__lt=now - s.RETENTION_EXPORT_ARCHIVES).order_by("pk")
    deleted["exports"] = 0
    for export in exports.iterator(chunk_size=100):
        data_export_delete(export=export)
        deleted["exports"] += 1

    # Evidence of authorisation (the consent, its events) once its legal period is over; the reminders with it.
    expired_evidence = retention_consents_past_evidence_period(now=now)
    deleted["clock_warnings"] = retention_delete_in_batches(
        ClockWarning.objects.filter(subject_id__in=[str(pk) for pk in expired_evidence])
    )
    deleted["consents"] = retention_delete_in_batches(Consent.objects.filter(pk__in=expired_evidence))
    deleted.update(retention_orphans_sweep())
    if any(deleted.values()):
        logger.info("retention deleted %s", deleted)
    return deleted
