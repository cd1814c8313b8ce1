"""Writes the data API performs on behalf of a third party (services write, selectors read)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from aggregator.exceptions import ConflictError, LimitReachedError, PermissionDeniedError
from aggregator.models import Connection, SyncRun
from aggregator.sync.budget import budget_refusal_wait
from aggregator.sync.services import sync_request_many
from aggregator.sync.unattended import DATA_TYPES, unattended_reserve
from consent.models import Consent
from consent.selectors import consent_accounts
from providers.registry import adapter_class

__all__ = ["consent_refresh_data_types", "consent_refresh_request"]


def consent_refresh_data_types(*, consent: Consent, asked: list[str] | None) -> list[str]:
    """The data types a refresh reads: those asked for (each must be a permission of the consent:
    ``PermissionDeniedError`` ``permission_missing`` otherwise), by default every one the consent permits."""
    permitted = [t for t in DATA_TYPES if t in (consent.permissions or [])]
    if not asked:
        return permitted or list(DATA_TYPES)
    missing = sorted(set(asked) - set(permitted))
    if missing:
        raise PermissionDeniedError(
            f"The consent does not permit {', '.join(missing)}.", code="permission_missing", field="data_types"
        )
    return [t for t in DATA_TYPES if t in asked]


@transaction.atomic
def consent_refresh_request(
    *, consent: Consent, data_types: list[str] | None = None, psu_ip_address: str = ""
) -> list[SyncRun]:
    """Queue a sync (trigger ``api``) of every active connection behind the consent's accounts, reading
    ``data_types`` (see ``consent_refresh_data_types``).

    Refused with ``ConflictError`` (``connection_unavailable``) when none is active; with ``LimitReachedError``
    (``bank_limit_reached``, with the wait) when a bank's own unattended-access allowance is used up: the budget
    rule of ``aggregator.sync.budget`` — the one the engine applies when the sync starts — counting the syncs
    already queued, so an accepted refresh is never one the engine then skips; and with ``LimitReachedError``
    (``unattended_limit_reached``) when a data type asked for is at its regulatory limit on an account
    (``aggregator.sync.unattended``: the accesses are spent here, for the runs). With the user present
    (``psu_ip_address``) neither limit applies and nothing is counted. The per-consent hourly limit is the
    ``consent_refresh`` throttle of the view. When the broker is down the runs are rolled back at commit and
    ``ServiceUnavailableError`` raised (``sync_request_many``).
    """
    data_types = consent_refresh_data_types(consent=consent, asked=data_types)
    connections = list(
        Connection.objects.select_for_update()
        .filter(pk__in=consent_accounts(consent=consent).order_by().values("connection_id"), status="active")
        .select_related("institution")
        .order_by("id")
    )
    if not connections:
        raise ConflictError("No bank connection of this consent is active.", code="connection_unavailable")
    now = timezone.now()
    for connection in [] if psu_ip_address else connections:  # the user present: the bank does not count it
        wait = budget_refusal_wait(connection, adapter_class(connection.institution.provider), now=now)
        if wait is not None:
            raise LimitReachedError(
                f"{connection.institution.name} allows no more unattended refreshes today; retry later.",
                code="bank_limit_reached",
                retry_after=wait,
            )
    runs = sync_request_many(
        connections=connections, trigger=SyncRun.Trigger.API, psu_ip_address=psu_ip_address, data_types=data_types
    )
    if not psu_ip_address:
        unattended_reserve(runs=runs, data_types=data_types)
    return runs
