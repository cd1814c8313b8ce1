"""Bodies of the payment endpoints (``aggregator.api.payments``): the requests' serializers and the resources'
shapes, amounts as decimal strings."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from aggregator.payments.models import Payment, PaymentConsent

from .serializers import money

__all__ = [
    "FundsSerializer",
    "PaymentConsentCreateSerializer",
    "PaymentConsentSerializer",
    "PaymentCreateSerializer",
    "PaymentSerializer",
    "payment_consent_data",
    "payment_data",
]


# --- bodies -----------------------------------------------------------------------------------------------
class InstructionSerializer(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=11, decimal_places=2, coerce_to_string=True, help_text='Positive decimal string, e.g. "10.50"'
    )
    currency = serializers.CharField(min_length=3, max_length=3, help_text="ISO 4217, e.g. GBP, EUR")
    creditor_name = serializers.CharField(max_length=70, help_text="The payee's name (at most 70 characters)")
    creditor_iban = serializers.CharField(max_length=42, required=False, allow_blank=True, help_text="Or …")
    creditor_sort_code = serializers.CharField(
        max_length=8, required=False, allow_blank=True, help_text="… a UK sort code (6 digits) and"
    )
    creditor_account_number = serializers.CharField(
        max_length=8, required=False, allow_blank=True, help_text="account number (8 digits)"
    )
    reference = serializers.CharField(
        max_length=35, required=False, allow_blank=True, help_text="Shown to the payee (at most 35 characters)"
    )
    requested_execution_date = serializers.DateField(
        required=False, allow_null=True, help_text="A future date makes a scheduled payment; omit to pay now"
    )


class PaymentConsentCreateSerializer(InstructionSerializer):
    debtor_account_id = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="Fix the account to pay from (an account your app was shared under a data consent); omit to let "
        "the user choose",
    )


class PaymentCreateSerializer(InstructionSerializer):
    payment_consent_id = serializers.UUIDField(
        required=False, help_text="The payment consent the token was issued under (checked when given)"
    )


class CreditorSerializer(serializers.Serializer):
    name = serializers.CharField()
    iban = serializers.CharField(allow_blank=True)
    sort_code = serializers.CharField(allow_blank=True)
    account_number = serializers.CharField(allow_blank=True)


class PaymentConsentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=PaymentConsent.Status.values)
    amount = serializers.CharField()
    currency = serializers.CharField()
    creditor = CreditorSerializer()
    reference = serializers.CharField(allow_blank=True)
    requested_execution_date = serializers.DateField(allow_null=True)
    debtor_account_id = serializers.UUIDField(allow_null=True, help_text="Set when fixed by you or once authorised")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(help_text="Not authorised and used by then: expired")
    authorised_at = serializers.DateTimeField(allow_null=True)
    payment_id = serializers.UUIDField(allow_null=True, help_text="Its payment, once made")
    authorize_url = serializers.CharField(help_text="Where to send the user (add your OAuth parameters)")


class PaymentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    payment_consent_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Payment.Status.values)
    bank_status = serializers.CharField(allow_blank=True, help_text="The bank's own status word")
    reason_code = serializers.CharField(allow_blank=True, help_text="The bank's reason code, when it gave one")
    reason = serializers.CharField(allow_blank=True)
    amount = serializers.CharField()
    currency = serializers.CharField()
    creditor = CreditorSerializer()
    reference = serializers.CharField(allow_blank=True)
    end_to_end_id = serializers.CharField()
    transaction_id = serializers.UUIDField(allow_null=True, help_text="The booked debit, once reconciled")
    created_at = serializers.DateTimeField()
    status_changed_at = serializers.DateTimeField(allow_null=True)


class FundsSerializer(serializers.Serializer):
    funds_available = serializers.BooleanField()
    payment_consent_id = serializers.UUIDField()


def _creditor(pc: PaymentConsent) -> dict[str, str]:
    return {
        "name": pc.creditor_name,
        "iban": pc.creditor_iban,
        "sort_code": pc.creditor_sort_code,
        "account_number": pc.creditor_account_number,
    }


def payment_consent_data(pc: PaymentConsent) -> dict[str, Any]:
    payment = Payment.objects.filter(consent=pc).values_list("public_id", flat=True).first()
    return {
        "id": pc.public_id,
        "status": pc.status,
        "amount": money(pc.amount),
        "currency": pc.currency,
        "creditor": _creditor(pc),
        "reference": pc.reference,
        "requested_execution_date": pc.requested_execution_date,
        "debtor_account_id": pc.debtor_account.public_id if pc.debtor_account_id else None,
        "created_at": pc.created_at,
        "expires_at": pc.expires_at,
        "authorised_at": pc.authorised_at,
        "payment_id": payment,
        "authorize_url": f"{reverse('consent:authorize')}?consent_id={pc.public_id}&scope=payments",
    }


def payment_data(payment: Payment) -> dict[str, Any]:
    pc = payment.consent
    return {
        "id": payment.public_id,
        "payment_consent_id": pc.public_id,
        "status": payment.status,
        "bank_status": payment.bank_status,
        "reason_code": payment.reason_code,
        "reason": payment.reason,
        "amount": money(payment.amount),
        "currency": payment.currency,
        "creditor": _creditor(pc),
        "reference": pc.reference,
        "end_to_end_id": payment.end_to_end_id,
        "transaction_id": payment.transaction.public_id if payment.transaction_id else None,
        "created_at": payment.created_at,
        "status_changed_at": payment.status_changed_at,
    }
