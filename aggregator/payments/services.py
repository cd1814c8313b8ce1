"""Payments: created once per idempotency key under an authorised payment consent; the bank side (the outbox
task's body, status polling) is ``aggregator.payments.outbox``.

At most once per key, whatever happens on our side: the ``Payment`` row (unique per ``(client_id,
idempotency_key)``, one per consent) commits before anything is sent; ``payment_submit`` then calls the bank with
``bank_idempotency_key`` — the same on every retry, so a crash after the bank accepted but before we stored its
answer is healed by the next attempt, which gets the same bank payment back. ``payments_check_due`` (periodic)
re-submits payments the bank never answered (a lost task) and polls accepted ones until they are final.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from typing import Any

import rfc8785
from celery import current_app
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..exceptions import ConflictError, InvalidInputError, UnprocessableError
from .events import payment_event_publish, trail_record
from .instruction import (
    instruction_mismatches,
    instruction_validate,
)
from .models import Payment, PaymentConsent

__all__ = ["SUBMIT_TASK", "payment_create", "payment_request_hash"]

logger = logging.getLogger(__name__)

SUBMIT_TASK = "aggregator.payments.tasks.payment_submit_task"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def payment_request_hash(values: dict[str, Any]) -> str:
    """SHA-256 of the normalised request, canonicalised with RFC 8785 (the same body in any key order or
    spacing hashes the same)."""
    canonical = {k: (None if v is None else str(v)) for k, v in values.items()}
    return hashlib.sha256(rfc8785.dumps(canonical)).hexdigest()


def _enqueue(payment_id: int, countdown: float | None = None) -> None:
    current_app.signature(SUBMIT_TASK, args=[payment_id]).apply_async(countdown=countdown or None)


def payment_create(
    *, consent: PaymentConsent, client_id: str, idempotency_key: str, instruction: dict[str, Any]
) -> tuple[Payment, bool]:
    """The payment under ``consent`` for this idempotency key: ``(payment, created)``. The same key with the
    same body returns the first payment (``created`` false); with another body it is refused
    (``idempotency_key_reused``). The body must repeat the consent's instruction exactly."""
    if not idempotency_key:
        raise InvalidInputError(
            "Send an Idempotency-Key header (a UUID, unique per payment).", code="idempotency_key_missing"
        )
    if not _KEY.match(idempotency_key):
        raise InvalidInputError(
            "The Idempotency-Key must be 1 to 255 visible ASCII characters.", code="idempotency_key_invalid"
        )
    values = instruction_validate(instruction)
    values_hash = payment_request_hash({"payment_consent_id": str(consent.public_id), **values})
    existing = Payment.objects.filter(client_id=client_id, idempotency_key=idempotency_key).first()
    if existing is not None:
        return _replay(existing, values_hash), False
    try:
        with transaction.atomic():
            payment = _create(consent, client_id, idempotency_key, values, values_hash)
    except IntegrityError:
        # A concurrent request with the same key (or for the same consent) won the race.
        existing = Payment.objects.filter(client_id=client_id, idempotency_key=idempotency_key).first()
        if existing is None:
            raise ConflictError(
                "This payment consent has already been used for a payment.", code="payment_consent_consumed"
            ) from None
        return _replay(existing, values_hash), False
    return payment, True


def _replay(existing: Payment, values_hash: str) -> Payment:
    if existing.request_hash != values_hash:
        raise UnprocessableError(
            "This Idempotency-Key was already used with a different request body.", code="idempotency_key_reused"
        )
    return existing


def _create(
    consent: PaymentConsent, client_id: str, idempotency_key: str, values: dict[str, Any], values_hash: str
) -> Payment:
    locked = PaymentConsent.objects.select_for_update().get(pk=consent.pk)
    if locked.client_id != client_id:
        raise ConflictError("This payment consent belongs to another app.", code="payment_consent_not_authorised")
    if locked.status == PaymentConsent.Status.CONSUMED:
        raise ConflictError(
            "This payment consent has already been used for a payment.", code="payment_consent_consumed"
        )
    if locked.status == PaymentConsent.Status.EXPIRED or (
        locked.status == PaymentConsent.Status.AUTHORISED and locked.expires_at <= timezone.now()
    ):
        raise ConflictError("This payment consent has expired.", code="payment_consent_expired")
    if locked.status != PaymentConsent.Status.AUTHORISED:
        raise ConflictError(
            f"This payment consent is {locked.get_status_display().lower()}, not authorised.",
            code="payment_consent_not_authorised",
        )
    mismatches = instruction_mismatches(locked, values)
    if mismatches:
        raise InvalidInputError(
            f"The payment does not match its consent's instruction ({', '.join(mismatches)}).",
            code="instruction_mismatch",
            field=mismatches[0],
        )
    now = timezone.now()
    payment = Payment.objects.create(
        consent=locked,
        client_id=client_id,
        idempotency_key=idempotency_key,
        request_hash=values_hash,
        bank_idempotency_key=str(uuid.uuid4()),
        end_to_end_id=locked.end_to_end_id,
        amount=locked.amount,
        currency=locked.currency,
        status_changed_at=now,
    )
    from_status = locked.status
    locked.status = PaymentConsent.Status.CONSUMED
    locked.status_changed_at = now
    locked.save(update_fields=["status", "status_changed_at", "updated_at"])
    trail_record(
        consent=locked,
        kind="consent.status_changed",
        from_status=from_status,
        to_status=locked.status,
        detail="used by its payment",
    )
    trail_record(
        consent=locked,
        payment=payment,
        kind="payment.created",
        to_status=payment.status,
        detail=f"idempotency key {idempotency_key[:80]}",
    )
    payment_event_publish(name="payment.initiated", payment=payment)
    transaction.on_commit(lambda: _enqueue(payment.pk))
    return payment
