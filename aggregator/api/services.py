"""Writes the data API performs on behalf of a third party (services write, selectors read)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from aggregator.exceptions import ConflictError, LimitReachedError
from aggregator.models import Connection, SyncRun
from aggregator.sync.budget import budget_refusal_wait
from aggregator.sync.services import sync_request_many
from consent.models import Consent
from consent.selectors import consent_accounts
from providers.registry import adapter_class

__all__ = ["consent_refresh_request"]


@transaction.atomic
def consent_refresh_request(*, consent: Consent) -> list[SyncRun]:
    """Queue a sync (trigger ``api``) of every active connection behind the consent's accounts.

    Refused with ``ConflictError`` (``connection_unavailable``) when none is active, and with
    ``LimitReachedError`` (``bank_limit_reached``, with the wait) when a bank's unattended-access allowance is
    used up: the budget rule of ``aggregator.sync.budget`` — the one the engine applies when the sync starts —
    counting the syncs already queued, so an accepted refresh is never one the engine then skips. The
    per-consent hourly limit is the ``consent_refresh`` throttle of the view. When the broker is down the runs
    are rolled back at commit and ``ServiceUnavailableError`` raised (``sync_request_many``).
    """
    connections = list(
        Connection.objects.select_for_update()
        .filter(pk__in=consent_accounts(consent=consent).order_by().values("connection_id"), status="active")
        .select_related("institution")
        .order_by("id")
    )
    if not connections:
        raise ConflictError("No bank connection of this consent is active.", code="connection_unavailable")
    now = timezone.now()
    for connection in connections:
        wait = budget_refusal_wait(connection, adapter_class(connection.institution.provider), now=now)
        if wait is not None:
            raise LimitReachedError(
                f"{connection.institution.name} allows no more unattended refreshes today; retry later.",
                code="bank_limit_reached",
                retry_after=wait,
            )
    return sync_request_many(connections=connections, trigger=SyncRun.Trigger.API)
