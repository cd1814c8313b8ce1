"""Read-side queries for consents (services write, selectors read)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from aggregator.models import Account, Connection

from .conf import consent_settings
from .models import AccessLogEntry, Consent, ConsentEvent

if TYPE_CHECKING:
    from .models import Application

__all__ = [
    "CONSENT_ACTIVE_STATUSES",
    "CONSENT_ENDED_STATUSES",
    "application_account",
    "awaiting_authorisation_ttl",
    "consent_access_summary",
    "consent_accounts",
    "consent_events_for",
    "consent_get_for_application",
    "consent_is_authorisable",
    "consent_list_for_user",
    "consent_time_is_up",
    "user_accounts_for_consent_screen",
    "user_connections",
]


def consent_accounts(*, consent: Consent) -> QuerySet[Account]:
    """The accounts a consent shares: only those the user ticked, still present, on the user's own connections."""
    return (
        Account.objects.filter(consents=consent, removed_at__isnull=True, connection__user_id=consent.user_id)
        .select_related("connection", "connection__institution")
        .order_by("connection_id", "display_name", "id")
    )


def consent_get_for_application(*, application: Application, consent_id: Any) -> Consent | None:
    """A TPP's own consent by id, or ``None`` (never another TPP's)."""
    return Consent.objects.filter(application=application, pk=consent_id).select_related("user").first()


def application_account(*, application: Application, account_id: Any) -> Account | None:
    """An account the TPP can see now (shared with it under an authorised, unexpired data consent), or ``None``."""
    return (
        Account.objects.filter(
            public_id=account_id,
            removed_at__isnull=True,
            consents__application=application,
            consents__status=Consent.Status.AUTHORISED,
            consents__expires_at__gt=timezone.now(),
        )
        .select_related("connection__institution")
        .first()
    )


def awaiting_authorisation_ttl() -> dt.timedelta:
    """How long a consent request waits for its user before it expires."""
    return dt.timedelta(minutes=consent_settings.AWAITING_TTL_MINUTES)


def consent_time_is_up(*, consent: Consent, now: dt.datetime | None = None) -> bool:
    """An authorised consent past its ``expires_at`` (expired, whether or not it has been recorded yet)."""
    return consent.status == Consent.Status.AUTHORISED and consent.expires_at <= (now or timezone.now())


def consent_is_authorisable(*, consent: Consent, now: dt.datetime | None = None) -> bool:
    """Awaiting authorisation, not past its expiry, and not older than the authorisation window; or authorised but
    with its tokens revoked (refresh-token reuse), so that its user may authorise it again."""
    now = now or timezone.now()
    if consent.status == Consent.Status.AUTHORISED:
        return consent.tokens_revoked_at is not None and consent.expires_at > now
    return (
        consent.status == Consent.Status.AWAITING_AUTHORISATION
        and consent.expires_at > now
        and consent.created_at > now - awaiting_authorisation_ttl()
    )


# The dashboard's two lists: consents still in force, and those that ended (revoked, expired, or denied).
CONSENT_ACTIVE_STATUSES = (Consent.Status.AUTHORISED,)
CONSENT_ENDED_STATUSES = (Consent.Status.REVOKED, Consent.Status.EXPIRED, Consent.Status.REJECTED)


def consent_list_for_user(*, user: Any, state: str = "") -> QuerySet[Consent]:
    """The user's consents (not the unanswered requests), newest first, with TPP and accounts prefetched.

    ``state``: ``"active"`` (authorised) or ``"ended"`` (revoked, expired, rejected; most recently ended first);
    empty for both."""
    queryset = Consent.objects.filter(user=user).exclude(status=Consent.Status.AWAITING_AUTHORISATION)
    ordering = ["-created_at", "-pk"]
    if state == "active":
        queryset = queryset.filter(status__in=CONSENT_ACTIVE_STATUSES)
    elif state == "ended":
        queryset = queryset.filter(status__in=CONSENT_ENDED_STATUSES)
        ordering = ["-status_changed_at", "-created_at", "-pk"]
    elif state:
        raise ValueError(f"unknown consent list state {state!r}")
    return (
        queryset.select_related("application")
        .prefetch_related("accounts", "accounts__connection__institution")
        .order_by(*ordering)
    )


def user_connections(*, user: Any) -> QuerySet[Connection]:
    return (
        Connection.objects.filter(user=user)
        .exclude(status=Connection.Status.DISCONNECTED)
        .select_related("institution")
        .order_by("institution__name", "-created_at")
    )


def user_accounts_for_consent_screen(*, user: Any) -> QuerySet[Account]:
    """Accounts the user may share: on the user's active connections, not removed upstream."""
    return (
        Account.objects.filter(
            connection__user=user, connection__status=Connection.Status.ACTIVE, removed_at__isnull=True
        )
        .select_related("connection", "connection__institution")
        .order_by("connection__institution__name", "connection_id", "display_name", "id")
    )


def consent_access_summary(*, user: Any, days: int = 30, consent_ids: Any = None) -> list[dict[str, Any]]:
    """Per consent and endpoint: number of requests by the TPP in the last ``days`` days and the latest one
    (only for ``consent_ids`` when given: the consents on one page of the dashboard)."""
    since = timezone.now() - dt.timedelta(days=days)
    entries = AccessLogEntry.objects.filter(consent__user=user, at__gte=since)
    if consent_ids is not None:
        entries = entries.filter(consent_id__in=list(consent_ids))
    return list(
        entries.values("consent_id", "application__name", "endpoint")
        .annotate(requests=Count("id"), last_at=Max("at"))
        .order_by("-last_at")
    )


def consent_events_for(*, consent_ids: list[Any]) -> dict[str, list[ConsentEvent]]:
    """The audit trail of each consent (oldest first), one query; each row carries ``ledger_leaf_index`` once the
    ledger logged it (the dashboard's "verify" link)."""
    out: dict[str, list[ConsentEvent]] = {str(pk): [] for pk in consent_ids}
    for event in ConsentEvent.objects.filter(consent_id__in=consent_ids).order_by("at", "id"):
        out[str(event.consent_id)].append(event)
    return out
