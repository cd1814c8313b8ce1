"""The bank side of a payment: the outbox task's body (``payment_submit``), status polling, and the periodic check
that heals what a lost task or a crash left undone.

At most once per key, whatever happens on our side: the ``Payment`` row commits before anything is sent
(``aggregator.payments.services``); ``payment_submit`` then calls the bank with ``bank_idempotency_key`` — the same
on every retry, so a crash after the bank accepted but before we stored its answer is healed by the next attempt,
which gets the same bank payment back. ``payments_check_due`` (periodic) re-submits payments the bank has not
answered and polls accepted ones until they are final.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from providers.base import (
    AccessTokenExpiredError,
    BankPayment,
    PaymentRejectedError,
    PermanentProviderError,
    ProviderError,
    ReauthRequiredError,
    TransientProviderError,
)
from providers.registry import adapter_for

from ..conf import aggregator_settings
from .events import payment_event_publish, trail_record
from .instruction import authorization_load, credentials_load, credentials_store, instruction_for
from .models import Payment, PaymentConsent

__all__ = ["payment_refresh_status", "payment_submit", "payment_update_from_bank", "payments_check_due"]

logger = logging.getLogger(__name__)

Status = Payment.Status
_ORDER = {Status.PENDING: 0, Status.ACCEPTED: 1, Status.SETTLED: 2, Status.REJECTED: 2, Status.FAILED: 2}


# --- the bank side ---------------------------------------------------------------------------------------
def _credentials(payment: Payment, adapter: Any) -> Any:
    credentials = credentials_load(payment.consent)
    if credentials.needs_refresh():
        credentials = adapter.refresh(credentials)
        with transaction.atomic():
            consent = PaymentConsent.objects.select_for_update().get(pk=payment.consent_id)
            credentials_store(consent, credentials)
            consent.save(update_fields=["encrypted_credentials", "updated_at"])
    return credentials


@transaction.atomic
def payment_update_from_bank(
    *,
    payment: Payment,
    status: str,
    bank_status: str = "",
    reason_code: str = "",
    reason: str = "",
    bank_payment_id: str = "",
    kind: str = "bank.status",
) -> Payment:
    """Record what the bank says; publishes ``payment.status_changed`` when our status moves. A final status is
    never left, and a status never goes back (a late ``pending`` after ``accepted`` is only noted)."""
    locked = Payment.objects.select_for_update().select_related("consent").get(pk=payment.pk)
    previous = locked.status
    moved = (
        status in Status.values and status != previous and not locked.is_final and _ORDER[status] >= _ORDER[previous]
    )
    changed = ["updated_at"]
    if bank_payment_id and not locked.bank_payment_id:
        locked.bank_payment_id = bank_payment_id[:200]
        changed.append("bank_payment_id")
    if not locked.is_final and (bank_status, reason_code) != (locked.bank_status, locked.reason_code):
        locked.bank_status, locked.reason_code, locked.reason = bank_status[:64], reason_code[:128], reason[:500]
        changed += ["bank_status", "reason_code", "reason"]
    if moved:
        locked.status = status
        locked.status_changed_at = timezone.now()
        changed += ["status", "status_changed_at"]
    if locked.is_final:
        locked.next_check_at = None
    elif moved or kind == "bank.submitted":
        locked.next_check_at = timezone.now() + dt.timedelta(seconds=aggregator_settings.PAYMENT_POLL_INTERVAL_SECONDS)
    changed.append("next_check_at")
    locked.save(update_fields=list(dict.fromkeys(changed)))
    if moved or len(changed) > 2:
        trail_record(
            consent=locked.consent,
            payment=locked,
            kind=kind,
            from_status=previous,
            to_status=locked.status,
            bank_status=bank_status,
            detail=" ".join(filter(None, [reason_code, reason])),
        )
    if moved:
        payment_event_publish(name="payment.status_changed", payment=locked, previous_status=previous)
    payment.__dict__.update(
        {
            f: getattr(locked, f)
            for f in (
                "status",
                "bank_status",
                "reason_code",
                "reason",
                "bank_payment_id",
                "status_changed_at",
                "next_check_at",
            )
        }
    )
    return locked


def _from_bank(payment: Payment, result: BankPayment, *, kind: str) -> Payment:
    return payment_update_from_bank(
        payment=payment,
        status=result.status,
        bank_status=result.bank_status,
        reason_code=result.reason_code,
        reason=result.reason,
        bank_payment_id=result.bank_payment_id,
        kind=kind,
    )


def _give_up_at(payment: Payment) -> dt.datetime:
    return payment.created_at + aggregator_settings.PAYMENT_SUBMIT_GIVE_UP_AFTER


def payment_submit(*, payment: Payment) -> Payment:
    """Make the bank execute the payment (the outbox task's body). Idempotent: a payment the bank already
    answered is only polled. Raises ``TransientProviderError`` for the task to retry (same bank key)."""
    payment = Payment.objects.select_related("consent__debtor_account__connection__institution").get(pk=payment.pk)
    if payment.is_final:
        return payment
    if payment.bank_payment_id:
        return payment_refresh_status(payment=payment)
    consent = payment.consent
    adapter = adapter_for(consent.debtor_account.connection.institution)
    Payment.objects.filter(pk=payment.pk).update(
        submit_attempts=payment.submit_attempts + 1, submitted_at=timezone.now()
    )
    try:
        credentials = _credentials(payment, adapter)
        result = adapter.submit_payment(
            credentials,
            instruction_for(consent),
            auth=authorization_load(consent),
            idempotency_key=payment.bank_idempotency_key,
        )
    except PaymentRejectedError as exc:
        return payment_update_from_bank(
            payment=payment,
            status=Status.REJECTED,
            bank_status="rejected",
            reason_code=exc.reason_code,
            reason=exc.reason,
            kind="bank.rejected",
        )
    except (TransientProviderError, AccessTokenExpiredError) as exc:
        Payment.objects.filter(pk=payment.pk).update(last_error=str(exc)[:500])
        if timezone.now() >= _give_up_at(payment):
            return payment_update_from_bank(
                payment=payment,
                status=Status.FAILED,
                bank_status="",
                reason_code=exc.code,
                reason=f"the bank did not answer: {exc}"[:500],
                kind="bank.gave_up",
            )
        raise
    except (PermanentProviderError, ReauthRequiredError) as exc:
        return payment_update_from_bank(
            payment=payment, status=Status.FAILED, reason_code=exc.code, reason=str(exc)[:500], kind="bank.failed"
        )
    return _from_bank(payment, result, kind="bank.submitted")


def payment_refresh_status(*, payment: Payment) -> Payment:
    """Ask the bank for the payment's status now (no-op once final). Transient errors propagate."""
    payment = Payment.objects.select_related("consent__debtor_account__connection__institution").get(pk=payment.pk)
    if payment.is_final or not payment.bank_payment_id:
        return payment
    adapter = adapter_for(payment.consent.debtor_account.connection.institution)
    try:
        result = adapter.get_payment(_credentials(payment, adapter), payment.bank_payment_id)
    except (PermanentProviderError, ReauthRequiredError) as exc:
        # Polling is not the payment: note it and try again later (reconciliation still links the debit).
        Payment.objects.filter(pk=payment.pk).update(
            last_error=str(exc)[:500],
            next_check_at=timezone.now() + dt.timedelta(seconds=10 * aggregator_settings.PAYMENT_POLL_INTERVAL_SECONDS),
        )
        return payment
    return _from_bank(payment, result, kind="bank.status")


def payments_check_due(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Periodic: re-submit payments the bank has not answered (a lost or crashed task; same bank key) and poll
    accepted ones whose check is due. Returns how many were looked at."""
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=2 * aggregator_settings.PAYMENT_POLL_INTERVAL_SECONDS)
    unanswered = Payment.objects.filter(status=Status.PENDING, bank_payment_id="", created_at__lte=stale)
    due = Payment.objects.exclude(status__in=Payment.FINAL).exclude(bank_payment_id="").filter(next_check_at__lte=now)
    count = 0
    for payment in list(unanswered.order_by("created_at")[:limit]) + list(due.order_by("next_check_at")[:limit]):
        count += 1
        try:
            if payment.bank_payment_id:
                payment_refresh_status(payment=payment)
            else:
                payment_submit(payment=payment)
        except ProviderError as exc:
            logger.warning("payment %s: bank check failed (%s); next round retries", payment.public_id, exc)
    return count
