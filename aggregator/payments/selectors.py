"""Read-side queries of payments."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models import PaymentConsent

__all__ = ["payment_consents_approved_by"]


def payment_consents_approved_by(*, user: Any) -> QuerySet[PaymentConsent]:
    """The payments ``user`` approved (authorised or used, and those that ended after approval), newest first,
    with the payment and the account paid from."""
    return (
        PaymentConsent.objects.filter(user=user, authorised_at__isnull=False)
        .select_related("payment", "debtor_account__connection__institution", "consent__application")
        .order_by("-authorised_at", "-pk")
    )
