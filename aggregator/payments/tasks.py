"""Celery tasks of payments: thin wrappers around the services.

``payment_submit_task`` is the outbox: enqueued when a payment commits, it calls the bank with the payment's own
bank idempotency key and retries transient failures with backoff and a cap; anything it could not finish (a lost
task, a worker crash, retries used up) is picked up by ``payments_check_task`` (celery beat, every minute) with the
same key.
"""

from __future__ import annotations

import logging

from celery import shared_task

from providers.base import RateLimitedError, TransientProviderError

from ..tasks import retry_countdown
from .consents import payment_consents_expire_due
from .models import Payment
from .outbox import payment_submit, payments_check_due

__all__ = ["PAYMENT_SUBMIT_MAX_RETRIES", "payment_submit_task", "payments_check_task"]

logger = logging.getLogger(__name__)

PAYMENT_SUBMIT_MAX_RETRIES = 6


@shared_task(
    bind=True,
    name="aggregator.payments.tasks.payment_submit_task",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=PAYMENT_SUBMIT_MAX_RETRIES,
    soft_time_limit=110,
    time_limit=120,
)
def payment_submit_task(self, payment_id: int) -> str | None:  # type: ignore[no-untyped-def]
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        logger.warning("payment %s vanished before it was submitted", payment_id)
        return None
    try:
        return payment_submit(payment=payment).status
    except RateLimitedError as exc:
        raise self.retry(exc=exc, countdown=min(retry_countdown(self.request.retries, exc.retry_after), 600)) from exc
    except TransientProviderError as exc:
        if self.request.retries >= PAYMENT_SUBMIT_MAX_RETRIES:
            logger.warning("payment %s: retries used up; the periodic check carries on", payment_id)
            return payment.status
        raise self.retry(exc=exc, countdown=min(retry_countdown(self.request.retries) / 10, 300)) from exc


@shared_task(name="aggregator.payments.tasks.payments_check_task", acks_late=True, soft_time_limit=50, time_limit=60)
def payments_check_task() -> int:
    """Expire unused payment consents, re-submit unanswered payments and poll accepted ones (every minute)."""
    payment_consents_expire_due()
    return payments_check_due()
