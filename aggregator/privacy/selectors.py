"""Reads of the privacy package: finding a user by name or email, everything that belongs to a user, and the
user's access log (which third-party app read what, under which consent)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from aggregator.ledger.models import LedgerLeaf
from aggregator.models import Account, Connection
from aggregator.payments.models import PaymentConsent
from aggregator.webhooks.models import WebhookEvent
from consent.models import AccessLogEntry, Consent

from .models import DataExport

__all__ = [
    "UserNotFoundError",
    "user_access_log",
    "user_accounts",
    "user_connections",
    "user_consent_ids",
    "user_exports",
    "user_find",
    "user_ledger_leaves",
    "user_payment_consents",
    "user_webhook_events",
]


class UserNotFoundError(LookupError):
    """No user (or more than one) answers to the given username or email."""


def user_find(*, identifier: str) -> Any:
    """The user whose username is ``identifier`` (exactly), else whose email is (case-insensitive, unique)."""
    User = get_user_model()
    identifier = (identifier or "").strip()
    if not identifier:
        raise UserNotFoundError("Give a username or an email address.")
    user = User.objects.filter(username=identifier).first()
    if user is not None:
        return user
    matches = list(User.objects.filter(email__iexact=identifier)[:2])
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UserNotFoundError(f"More than one user has the email {identifier!r}: give the username instead.")
    raise UserNotFoundError(f"No user with the username or email {identifier!r}.")


def user_consent_ids(*, user: Any) -> list[Any]:
    return list(Consent.objects.filter(user=user).values_list("pk", flat=True))


def user_connections(*, user: Any) -> QuerySet[Connection]:
    return Connection.objects.filter(user=user).select_related("institution").order_by("id")


def user_accounts(*, user: Any) -> QuerySet[Account]:
    return Account.objects.filter(connection__user=user).select_related("connection__institution").order_by("id")


def user_payment_consents(*, user: Any) -> QuerySet[PaymentConsent]:
    """The user's payment consents: approved by them, or created for one of their consents."""
    return (
        PaymentConsent.objects.filter(Q(user=user) | Q(consent__user=user))
        .distinct()
        .select_related("debtor_account")
        .order_by("id")
    )


def user_access_log(*, user: Any) -> QuerySet[AccessLogEntry]:
    """Every data request of a third-party app under one of the user's consents, newest first."""
    return (
        AccessLogEntry.objects.filter(consent__user=user)
        .select_related("application", "consent")
        .order_by("-at", "-id")
    )


def user_webhook_events(*, user: Any) -> QuerySet[WebhookEvent]:
    """Webhook events about the user: their payload names one of the user's consents or payment consents."""
    consent_ids = [str(pk) for pk in user_consent_ids(user=user)]
    payment_ids = [str(p) for p in user_payment_consents(user=user).values_list("public_id", flat=True)]
    return (
        WebhookEvent.objects.filter(
            Q(payload__consent_id__in=consent_ids) | Q(payload__payment_consent_id__in=payment_ids)
        )
        .select_related("application")
        .prefetch_related("deliveries")
        .order_by("created_at", "id")
    )


def user_ledger_leaves(*, user: Any) -> QuerySet[LedgerLeaf]:
    """The ledger's leaves whose subject is one of the user's consents."""
    consent_ids = [str(pk) for pk in user_consent_ids(user=user)]
    return LedgerLeaf.objects.filter(subject_type="consent", subject_id__in=consent_ids).order_by("index")


def user_exports(*, user: Any) -> QuerySet[DataExport]:
    return DataExport.objects.filter(user=user).order_by("-created_at", "-id")
