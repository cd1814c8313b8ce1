"""Domain events → webhook events for third parties (subscribed in ``WebhooksConfig.ready()``).

* ``sync.completed`` → ``transactions.updated`` to every TPP with an authorised consent over the synced
  connection's accounts (one event per consent, only when something changed): counts and a delta-feed
  ``cursor`` whose next walk returns what changed from the start of that sync.
* ``connection.reauth_required`` → ``connection.reauth_required`` likewise (the data will go stale until the
  user reconnects).
* ``connection.reauth_due`` (compliance clocks, EU) → ``connection.reauth_due`` likewise: the bank's 180-day
  strong authentication lapses at ``reauthenticate_by`` (``stage`` ``T-14`` or ``T-3``).
* ``consent.reconfirmation_due`` (compliance clocks, UK) → ``consent.reconfirmation_due`` to the TPP that holds the
  consent: the user must reconfirm by ``reconfirm_by`` or the API answers ``403 reconfirmation_required``.
* ``recurring.updated`` (insights) → ``recurring.updated`` to consents with ``transactions`` over the account:
  the streams that appeared, changed or ended, and where to read them.
* ``risk_signal.detected`` (insights) → ``risk_signal.detected`` to consents with ``insights`` over the account:
  kind, score and ids (never a name or an amount: those are read through the API under the consent).
* ``consent.status_changed`` to ``revoked`` / ``expired`` → ``consent.revoked`` / ``consent.expired`` to the TPP
  that held the consent.
* ``payment.status_changed`` → ``payment.status_changed`` to the TPP that made the payment: its id, the payment
  consent's id, our status and the previous one, the bank's status and reason code, amount and currency, and the
  reconciled transaction's id (no names, no account numbers).

Only apps with a ``webhook_url`` get events. The work runs after the domain change commits and never breaks it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from aggregator.delta import delta_cursor_since
from aggregator.domain_events import DomainEvent
from aggregator.models import Connection, SyncRun
from aggregator.payments.models import Payment
from consent.clocks import consent_reconfirmation_lapsed
from consent.models import Consent
from consent.selectors import consent_accounts

from .services import webhook_event_create

__all__ = ["webhooks_on_domain_event"]

logger = logging.getLogger(__name__)


def _consents_covering(connection_id: int) -> list[tuple[Consent, list[str]]]:
    """Authorised, unexpired consents of apps with a webhook URL over accounts of this connection, each with the
    public ids of those accounts."""
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
            consent_accounts(consent=consent)
            .filter(connection_id=connection_id)
            .order_by("id")
            .values_list("public_id", flat=True)
        )
        out.append((consent, [str(a) for a in accounts]))
    return out


def _transactions_updated(event: DomainEvent) -> None:
    run = SyncRun.objects.select_related("connection__institution").get(public_id=event.subject_id)
    if run.outcome != SyncRun.Outcome.SUCCEEDED:
        return
    counts = {"added": run.added_count, "modified": run.modified_count, "removed": run.removed_count}
    if not any(counts.values()):
        return
    # The delta-feed position just before anything this sync wrote (a little slack for clock steps).
    since = (run.started_at or run.queued_at) - dt.timedelta(seconds=1)
    for consent, accounts in _consents_covering(run.connection_id):
        if consent_reconfirmation_lapsed(consent=consent):
            continue  # the TPP may not read it until the user reconfirms (403 reconfirmation_required)
        cursor = delta_cursor_since(owner=str(consent.pk), since=since)
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


def _connection_event(event: DomainEvent, *, extra: tuple[str, ...] = ()) -> None:
    """A connection's event to every TPP with a live consent over its accounts, with the event's ``extra`` data."""
    conn = Connection.objects.select_related("institution").get(public_id=event.subject_id)
    for consent, accounts in _consents_covering(conn.pk):
        webhook_event_create(
            application=consent.application,
            type=event.name,
            payload={
                "consent_id": str(consent.pk),
                "connection_id": str(conn.public_id),
                "institution": conn.institution.slug,
                "accounts": accounts,
                **{key: event.data[key] for key in extra},
            },
        )


def _connection_reauth_required(event: DomainEvent) -> None:
    _connection_event(event)


def _connection_reauth_due(event: DomainEvent) -> None:
    _connection_event(event, extra=("reauthenticate_by", "days_left", "stage"))


def _consent_reconfirmation_due(event: DomainEvent) -> None:
    consent = Consent.objects.select_related("application").get(pk=event.subject_id)
    if not consent.application.webhook_url:
        return
    webhook_event_create(
        application=consent.application,
        type="consent.reconfirmation_due",
        payload={
            "consent_id": event.subject_id,
            "reconfirm_by": event.data["reconfirm_by"],
            "days_left": event.data["days_left"],
            "stage": event.data["stage"],
        },
    )


def _consents_over_account(account_public_id: str, permission: str) -> list[Consent]:
    """Authorised, unexpired consents with ``permission`` of apps with a webhook URL that share this account."""
    consents = (
        Consent.objects.filter(
            status=Consent.Status.AUTHORISED,
            expires_at__gt=timezone.now(),
            accounts__public_id=account_public_id,
        )
        .exclude(application__webhook_url="")
        .select_related("application")
        .distinct()
    )
    return [c for c in consents if permission in (c.permissions or [])]


def _recurring_updated(event: DomainEvent) -> None:
    account_id = event.data["account_id"]
    for consent in _consents_over_account(account_id, "transactions"):
        webhook_event_create(
            application=consent.application,
            type="recurring.updated",
            payload={
                "consent_id": str(consent.pk),
                "account_id": account_id,
                "streams": list(event.data.get("streams", [])),
                "removed_stream_ids": list(event.data.get("removed_stream_ids", [])),
                "fetch": f"/api/v1/recurring?account_id={account_id}",
            },
        )


def _risk_signal_detected(event: DomainEvent) -> None:
    account_id = event.data["account_id"]
    for consent in _consents_over_account(account_id, "insights"):
        webhook_event_create(
            application=consent.application,
            type="risk_signal.detected",
            payload={
                "consent_id": str(consent.pk),
                "account_id": account_id,
                "signal_id": event.subject_id,
                "kind": event.data["kind"],
                "score": event.data["score"],
                "transaction_ids": list(event.data.get("transaction_ids", [])),
                "fetch": f"/api/v1/risk-signals?account_id={account_id}",
            },
        )


_CONSENT_EVENTS = {"revoked": "consent.revoked", "expired": "consent.expired"}


def _consent_ended(event: DomainEvent) -> None:
    to_status, from_status = event.data["to_status"], event.data["from_status"]
    current = Consent.objects.select_related("application").get(pk=event.subject_id)
    webhook_event_create(
        application=current.application,
        type=_CONSENT_EVENTS[to_status],
        payload={
            "consent_id": event.subject_id,
            "status": to_status,
            "previous_status": from_status,
            "at": (current.status_changed_at or event.occurred_at).isoformat(),
        },
    )


def _payment_status_changed(event: DomainEvent) -> None:
    payment = Payment.objects.select_related("consent__consent__application").get(public_id=event.subject_id)
    application = payment.consent.consent.application
    data = event.data
    webhook_event_create(
        application=application,
        type="payment.status_changed",
        payload={
            "payment_id": event.subject_id,
            "payment_consent_id": data["payment_consent_id"],
            "status": data["status"],
            "previous_status": data.get("previous_status", ""),
            "bank_status": data["bank_status"],
            "reason_code": data["reason_code"],
            "amount": data["amount"],
            "currency": data["currency"],
            "transaction_id": data.get("transaction_id"),
            "at": event.occurred_at.isoformat(),
            "fetch": f"/api/v1/payments/{event.subject_id}",
        },
    )


def _handler_for(event: DomainEvent) -> Callable[[DomainEvent], None] | None:
    if event.name == "sync.completed":
        return _transactions_updated
    if event.name == "connection.reauth_required":
        return _connection_reauth_required
    if event.name == "connection.reauth_due":
        return _connection_reauth_due
    if event.name == "consent.reconfirmation_due":
        return _consent_reconfirmation_due
    if event.name == "recurring.updated":
        return _recurring_updated
    if event.name == "risk_signal.detected":
        return _risk_signal_detected
    if event.name == "consent.status_changed" and event.data.get("to_status") in _CONSENT_EVENTS:
        return _consent_ended
    if event.name == "payment.status_changed":
        return _payment_status_changed
    return None


def webhooks_on_domain_event(event: DomainEvent) -> None:
    """Turn ``event`` into webhook events once the change that produced it has committed."""
    handler = _handler_for(event)
    if handler is None:
        return

    def announce() -> None:
        try:
            handler(event)
        except Exception:  # webhook fan-out must never break the change that triggered it
            logger.exception("Could not create webhook events for %s %s", event.name, event.subject_id)

    transaction.on_commit(announce)
