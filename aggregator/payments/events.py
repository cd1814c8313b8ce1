"""The trail of a payment consent or payment (``PaymentEvent``) and the domain events published with it.

``payment.initiated`` / ``payment.status_changed`` (subject ``payment``, its public id): status, bank status,
reason code, the payment consent's id, amount and currency as strings; never a name or an account number.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from ..domain_events import DomainEvent, publish
from .models import Payment, PaymentConsent, PaymentEvent

__all__ = ["payment_event_publish", "trail_record"]


def trail_record(
    *,
    consent: PaymentConsent,
    kind: str,
    payment: Payment | None = None,
    from_status: str = "",
    to_status: str = "",
    bank_status: str = "",
    detail: str = "",
) -> PaymentEvent:
    return PaymentEvent.objects.create(
        consent=consent,
        payment=payment,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        bank_status=bank_status[:64],
        detail=detail[:500],
    )


def payment_event_publish(*, name: str, payment: Payment, previous_status: str = "") -> None:
    data = {
        "status": payment.status,
        "bank_status": payment.bank_status,
        "reason_code": payment.reason_code,
        "payment_consent_id": str(payment.consent.public_id),
        "amount": str(payment.amount.quantize(Decimal("0.01"))),
        "currency": payment.currency,
        "transaction_id": str(payment.transaction.public_id) if payment.transaction_id else None,
    }
    if previous_status:
        data["previous_status"] = previous_status
    publish(
        DomainEvent(
            name=name,
            subject_type="payment",
            subject_id=str(payment.public_id),
            data=data,
            occurred_at=payment.status_changed_at or timezone.now(),
        )
    )
