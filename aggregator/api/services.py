"""Writes the data API performs on behalf of a third party (services write, selectors read)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from aggregator.models import Connection, SyncRun

from .errors import ApiError

if TYPE_CHECKING:
    from consent.models import Consent

__all__ = ["BankLimitReached", "consent_refresh_request", "unattended_limit_for"]

# Sync runs that spend one of the bank's "without the customer present" calls.
_UNATTENDED_TRIGGERS = (SyncRun.Trigger.SCHEDULED, SyncRun.Trigger.API)
_NOT_SPENT = (SyncRun.Outcome.SKIPPED, SyncRun.Outcome.RATE_LIMITED)


class BankLimitReached(ApiError):
    """A bank's own unattended-access limit (e.g. PSD2's 4 a day) is used up for a connection."""

    def __init__(self, wait: float, institution: str) -> None:
        super().__init__(
            429,
            "bank_limit_reached",
            f"{institution} allows no more unattended refreshes today; retry later.",
        )
        self.wait = wait


def unattended_limit_for(connection: Connection) -> int | None:
    """The bank's limit of unattended calls per day (``None`` = unlimited), from its adapter class."""
    try:
        from providers.registry import adapter_class
    except ImportError:  # the registry is optional in a bare checkout
        return None
    try:
        return adapter_class(connection.institution.provider).unattended_calls_per_day
    except Exception:
        return None


@transaction.atomic
def consent_refresh_request(*, consent: Consent) -> list[SyncRun]:
    """Queue a sync (trigger ``api``) of every active connection behind the consent's accounts.

    Refused with ``409 connection_unavailable`` when none is active, and with ``429 bank_limit_reached`` when a
    bank's unattended limit over the last 24 hours would be exceeded: a refresh never costs more bank calls than
    the bank allows. The per-consent hourly limit is the ``consent_refresh`` throttle of the view.
    """
    from aggregator.selectors import account_list_for_consent
    from aggregator.sync.services import sync_request

    connections = list(
        Connection.objects.select_for_update()
        .filter(pk__in=account_list_for_consent(consent=consent).values("connection_id"), status="active")
        .select_related("institution")
        .order_by("id")
    )
    if not connections:
        raise ApiError(409, "connection_unavailable", "No bank connection of this consent is active.")
    now = timezone.now()
    since = now - dt.timedelta(days=1)
    for connection in connections:
        limit = unattended_limit_for(connection)
        if limit is None:
            continue
        spent = list(
            SyncRun.objects.filter(connection=connection, trigger__in=_UNATTENDED_TRIGGERS, queued_at__gt=since)
            .exclude(outcome__in=_NOT_SPENT)
            .order_by("queued_at")
            .values_list("queued_at", flat=True)[:limit]
        )
        if len(spent) >= limit:
            wait = (spent[0] + dt.timedelta(days=1) - now).total_seconds()
            raise BankLimitReached(wait=max(wait, 1.0), institution=connection.institution.name)
    return [sync_request(connection=c, trigger=SyncRun.Trigger.API) for c in connections]
