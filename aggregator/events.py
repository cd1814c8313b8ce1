"""Domain events other parts react to (webhooks to third parties). Call these from services; each one defers
its work to ``transaction.on_commit`` so nothing is announced for a rolled-back change.

Owned by the data-API work (webhooks); the sync engine and consent services call these names.

* ``sync_completed`` → ``transactions.updated`` to every TPP with an authorised consent over the synced
  connection's accounts (one event per consent, only when something changed): counts and a delta-feed
  ``cursor`` that returns exactly what changed from the start of that sync.
* ``connection_reauth_required`` → ``connection.reauth_required`` likewise (the data will go stale until the
  user reconnects).
* ``consent_status_changed`` → ``consent.revoked`` / ``consent.expired`` to the TPP that held the consent.

Only apps with a ``webhook_url`` get events (see ``aggregator.webhooks``).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

if TYPE_CHECKING:
    from consent.models import Consent

    from .models import Connection, SyncRun

__all__ = ["connection_reauth_required", "consent_status_changed", "sync_completed"]

logger = logging.getLogger(__name__)


def _consents_covering(connection_id: int) -> list[tuple[Consent, list[Any]]]:
    """Authorised, unexpired consents of apps with a webhook URL over accounts of this connection, each with the
    public ids of those accounts."""
    from consent.models import Consent

    from .models import Account

    consents = (
        Consent.objects.filter(
            status=Consent.Status.AUTHORISED,
            expires_at__gt=timezone.now(),
            accounts__connection_id=connection_id,
        )
        .exclude(application__webhook_url="")
        .select_related("application")
        .distinct()
    )
    out = []
    for consent in consents:
        accounts = list(
            Account.objects.filter(consents=consent, connection_id=connection_id, removed_at__isnull=True)
            .order_by("id")
            .values_list("public_id", flat=True)
        )
        out.append((consent, [str(a) for a in accounts]))
    return out


def _safely(func: Any) -> Any:
    """Webhook fan-out must never break the change that triggered it (it runs after that change committed)."""

    def run() -> None:
        try:
            func()
        except Exception:
            logger.exception("Could not create webhook events (%s)", getattr(func, "__name__", func))

    return run


def sync_completed(*, sync_run: SyncRun) -> None:
    """A sync finished; third parties with consents over its accounts learn of new/changed transactions."""
    sync_run_id = sync_run.pk

    def announce() -> None:
        from aggregator.api.pagination import cursor_encode
        from aggregator.webhooks.services import webhook_event_create

        from .models import SyncRun

        run = SyncRun.objects.select_related("connection__institution").get(pk=sync_run_id)
        if run.outcome != SyncRun.Outcome.SUCCEEDED:
            return
        counts = {"added": run.added_count, "modified": run.modified_count, "removed": run.removed_count}
        if not any(counts.values()):
            return
        # The delta-feed position just before anything this sync wrote (a little slack for clock steps).
        since = (run.started_at or run.queued_at) - dt.timedelta(seconds=1)
        for consent, accounts in _consents_covering(run.connection_id):
            cursor = cursor_encode({"u": since.isoformat(), "i": 0}, purpose="delta", owner=str(consent.pk))
            webhook_event_create(
                application=consent.application,
                type="transactions.updated",
                payload={
                    "consent_id": str(consent.pk),
                    "sync_id": str(run.public_id),
                    "institution": run.connection.institution.slug,
                    "accounts": accounts,
                    "counts": counts,
                    "cursor": cursor,
                    "fetch": f"/api/v1/transactions/sync?cursor={cursor}",
                },
            )

    transaction.on_commit(_safely(announce))


def connection_reauth_required(*, connection: Connection) -> None:
    """The bank wants the user to log in again; TPPs relying on the connection learn their data will go stale."""
    connection_id = connection.pk

    def announce() -> None:
        from aggregator.webhooks.services import webhook_event_create

        from .models import Connection

        conn = Connection.objects.select_related("institution").get(pk=connection_id)
        for consent, accounts in _consents_covering(connection_id):
            webhook_event_create(
                application=consent.application,
                type="connection.reauth_required",
                payload={
                    "consent_id": str(consent.pk),
                    "connection_id": str(conn.public_id),
                    "institution": conn.institution.slug,
                    "accounts": accounts,
                },
            )

    transaction.on_commit(_safely(announce))


_CONSENT_EVENTS = {"revoked": "consent.revoked", "expired": "consent.expired"}


def consent_status_changed(*, consent: Consent, from_status: str) -> None:
    """Revoked / expired consents are announced to the third party that held them."""
    event_type = _CONSENT_EVENTS.get(consent.status)
    if event_type is None or from_status == consent.status:
        return
    consent_id, to_status = consent.pk, consent.status

    def announce() -> None:
        from aggregator.webhooks.services import webhook_event_create
        from consent.models import Consent

        current = Consent.objects.select_related("application").get(pk=consent_id)
        webhook_event_create(
            application=current.application,
            type=event_type,
            payload={
                "consent_id": str(consent_id),
                "status": to_status,
                "previous_status": from_status,
                "at": (current.status_changed_at or timezone.now()).isoformat(),
            },
        )

    transaction.on_commit(_safely(announce))
