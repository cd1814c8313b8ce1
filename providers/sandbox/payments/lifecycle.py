"""A sandbox payment's life on the sandbox clock: its status at any moment, in each dialect's words, and the
entries it puts on the debtor account.

Nothing here writes. A payment row (``SandboxPayment``) holds the moments that decide its life; the status at
``now`` is read from them, so ``manage.py sandbox_clock --advance`` moves every payment, in every process.

Timeline of an accepted payment::

    created ──(SCA / POST payment: submitted_at)──▶ [pending_until] ──▶ settles_at
      RCVD            ACTC / AcceptedSettlementInProcess     PDNG / Pending      ACSC / AcceptedSettlementCompleted

* ``submitted_at``: the bank took the instruction for execution (albion: ``POST domestic-payments``; rhein:
  the PSU's SCA). A pending debit shows on the account from then (not for scheduled payments: they are
  debited on their execution date).
* ``pending_until`` (``slow`` users): Pending / PDNG until then, one day after submission.
* ``settles_at``: the debit is booked on the debtor account (a new booked entry replacing the pending one).
* ``rejected_at`` + ``reason_code``: Rejected / RJCT (AM04 insufficient funds, BE01 payee check, …); nothing is
  debited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from ..data.records import SandboxTransaction

__all__ = [
    "INSTANT_SETTLEMENT",
    "SLOW_PENDING",
    "STANDARD_SETTLEMENT",
    "PaymentFacts",
    "bg_status",
    "obie_payment_status",
    "payment_entries",
    "status_changed_at",
]

STANDARD_SETTLEMENT = timedelta(seconds=60)  # albion Faster Payments, rhein SEPA credit transfers
INSTANT_SETTLEMENT = timedelta(seconds=10)  # rhein instant SEPA credit transfers
SLOW_PENDING = timedelta(days=1)  # ``slow`` users: pending until the clock moved this far

BANK_TRANSACTION_CODE = "PMNT-ICDT-DMCT"  # ISO 20022: payments, issued credit transfer, domestic credit transfer
SCHEDULED_PRODUCTS = frozenset({"domestic-scheduled-payments"})


class PaymentFacts(Protocol):
    """What the lifecycle reads from a payment row (``SandboxPayment`` has these fields)."""

    id: str
    product: str
    debtor_account_id: str
    amount: Decimal
    currency: str
    creditor_name: str
    reference: str
    end_to_end_id: str
    created_at: datetime
    submitted_at: datetime | None
    pending_until: datetime | None
    settles_at: datetime | None
    rejected_at: datetime | None


@dataclass(frozen=True)
class _Phase:
    name: str  # received | accepted | pending | settled | rejected
    since: datetime


def _phase(payment: PaymentFacts, now: datetime) -> _Phase:
    if payment.rejected_at is not None and payment.rejected_at <= now:
        return _Phase("rejected", payment.rejected_at)
    if payment.submitted_at is None or payment.submitted_at > now:
        return _Phase("received", payment.created_at)
    if payment.settles_at is not None and payment.settles_at <= now:
        return _Phase("settled", payment.settles_at)
    if payment.pending_until is not None and now < payment.pending_until:
        return _Phase("pending", payment.submitted_at)
    return _Phase("accepted", payment.pending_until or payment.submitted_at)


def status_changed_at(payment: PaymentFacts, now: datetime) -> datetime:
    """When the status the payment shows at ``now`` began (OBIE ``StatusUpdateDateTime``)."""
    return _phase(payment, now).since


_OBIE_DOMESTIC = {
    "received": "Pending",
    "pending": "Pending",
    "accepted": "AcceptedSettlementInProcess",
    "settled": "AcceptedSettlementCompleted",
    "rejected": "Rejected",
}
_OBIE_SCHEDULED = {
    "received": "InitiationPending",
    "pending": "InitiationPending",
    "accepted": "InitiationPending",
    "settled": "InitiationCompleted",
    "rejected": "InitiationFailed",
}
_BG = {"received": "RCVD", "pending": "PDNG", "accepted": "ACTC", "settled": "ACSC", "rejected": "RJCT"}


def obie_payment_status(payment: PaymentFacts, now: datetime) -> str:
    """``OBWriteDomesticResponse5.Data.Status`` (or the scheduled payment's ``Initiation*`` status)."""
    table = _OBIE_SCHEDULED if payment.product in SCHEDULED_PRODUCTS else _OBIE_DOMESTIC
    return table[_phase(payment, now).name]


def bg_status(payment: PaymentFacts, now: datetime) -> str:
    """Berlin Group ``transactionStatus`` (ISO 20022 ExternalPaymentTransactionStatus1Code)."""
    return _BG[_phase(payment, now).name]


def pending_entry_id(payment_id: str) -> str:
    return f"PP{payment_id.replace('-', '')[-24:]}"


def booked_entry_id(payment_id: str) -> str:
    return f"PB{payment_id.replace('-', '')[-24:]}"


def payment_entries(payment: PaymentFacts, now: datetime) -> list[SandboxTransaction]:
    """The entries the payment shows on its debtor account at ``now``: a pending debit from submission until
    settlement (immediate payments), then a booked debit that replaces it; nothing once rejected."""
    phase = _phase(payment, now).name
    if phase in {"received", "rejected"} or not payment.debtor_account_id:
        return []
    scheduled = payment.product in SCHEDULED_PRODUCTS
    common = {
        "account_id": payment.debtor_account_id,
        "amount": -payment.amount.quantize(Decimal("0.01")),
        "currency": payment.currency,
        "description": payment.reference or f"Payment to {payment.creditor_name}",
        "merchant_name": "",
        "category": "transfers",
        "counterparty_name": payment.creditor_name,
        "bank_transaction_code": BANK_TRANSACTION_CODE,
        "end_to_end_id": payment.end_to_end_id,
    }
    if phase == "settled":
        assert payment.settles_at is not None
        return [
            SandboxTransaction(
                id=booked_entry_id(payment.id),
                status="booked",
                booked_at=payment.settles_at,
                value_date=payment.settles_at.date(),
                pending_transaction_id="" if scheduled else pending_entry_id(payment.id),
                **common,
            )
        ]
    if scheduled:
        return []
    assert payment.submitted_at is not None
    return [
        SandboxTransaction(
            id=pending_entry_id(payment.id),
            status="pending",
            booked_at=payment.submitted_at,
            value_date=(payment.settles_at or payment.submitted_at).date(),
            **common,
        )
    ]
