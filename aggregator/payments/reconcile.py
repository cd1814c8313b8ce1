"""Reconciliation: after each successful sync, link accepted payments to the booked debit they produced.

Subscribed to ``sync.completed`` (``PaymentsConfig.ready``). For each payment from an account of the synced
connection that has no transaction yet, the candidates are the account's booked, unlinked transactions of minus the
payment's amount in its currency, booked within ``PAYMENT_RECONCILE_WINDOW_DAYS`` of the submission. The bank's
own record naming our end-to-end id decides first; else the reference in the description; else a single
candidate by amount and date. Ambiguity links nothing (a later sync or staff decide). A linked payment whose
status was not final becomes ``settled``: the money left the account.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from django.db import transaction
from django.db.models import Q

from ..conf import aggregator_settings
from ..domain_events import DomainEvent
from ..models import SyncRun, Transaction
from .events import payment_event_publish, trail_record
from .models import Payment

__all__ = ["payment_match", "payments_on_domain_event", "payments_reconcile"]

logger = logging.getLogger(__name__)


def payment_match(*, payment: Payment) -> Transaction | None:
    """The booked transaction ``payment`` produced, or ``None`` (none yet, or no single match)."""
    since = (payment.submitted_at or payment.created_at).date() - dt.timedelta(days=1)
    requested = payment.consent.requested_execution_date
    if requested and requested > since:
        since = requested - dt.timedelta(days=1)
    until = since + dt.timedelta(days=int(aggregator_settings.PAYMENT_RECONCILE_WINDOW_DAYS) + 1)
    candidates = list(
        Transaction.objects.filter(
            account_id=payment.consent.debtor_account_id,
            status=Transaction.Status.BOOKED,
            removed_at__isnull=True,
            amount=-payment.amount,
            currency=payment.currency,
            booking_date__gte=since,
            booking_date__lte=until,
        )
        .filter(Q(payment__isnull=True) | Q(payment=payment))
        .order_by("booking_date", "id")
    )
    if not candidates:
        return None
    by_e2e = [t for t in candidates if payment.end_to_end_id in json.dumps(t.raw, default=str)]
    if len(by_e2e) == 1:
        return by_e2e[0]
    reference = payment.consent.reference
    if reference:
        by_ref = [t for t in candidates if reference.lower() in (t.description or "").lower()]
        if len(by_ref) == 1:
            return by_ref[0]
    return candidates[0] if len(candidates) == 1 else None


def payments_reconcile(*, connection_id: int) -> int:
    """Link the connection's unreconciled payments to their transactions; returns how many were linked."""
    payments = Payment.objects.filter(
        consent__debtor_account__connection_id=connection_id,
        transaction__isnull=True,
        status__in=[Payment.Status.PENDING, Payment.Status.ACCEPTED, Payment.Status.SETTLED],
    ).select_related("consent")
    linked = 0
    for payment in payments:
        match = payment_match(payment=payment)
        if match is None:
            continue
        with transaction.atomic():
            locked = Payment.objects.select_for_update().select_related("consent").get(pk=payment.pk)
            if locked.transaction_id is not None or Payment.objects.filter(transaction=match).exists():
                continue
            previous = locked.status
            locked.transaction = match
            fields = ["transaction", "updated_at"]
            if not locked.is_final:
                locked.status = Payment.Status.SETTLED
                locked.status_changed_at = match.updated_at
                locked.next_check_at = None
                fields += ["status", "status_changed_at", "next_check_at"]
            locked.save(update_fields=fields)
            trail_record(
                consent=locked.consent,
                payment=locked,
                kind="reconciled",
                from_status=previous,
                to_status=locked.status,
                detail=f"transaction {match.public_id}",
            )
            if locked.status != previous:
                payment_event_publish(name="payment.status_changed", payment=locked, previous_status=previous)
        linked += 1
    return linked


def payments_on_domain_event(event: DomainEvent) -> None:
    """``sync.completed`` → reconcile that connection's payments, after the sync's commit; never breaks it."""
    if event.name != "sync.completed":
        return
    public_id = event.subject_id

    def run() -> None:
        try:
            connection_id = SyncRun.objects.filter(public_id=public_id).values_list("connection_id", flat=True).first()
            if connection_id is not None:
                payments_reconcile(connection_id=connection_id)
        except Exception:  # reconciliation must never break a sync; the next sync tries again
            logger.exception("reconciling payments after sync %s failed", public_id)

    transaction.on_commit(run)
