"""The scheduler's dispatcher: every minute (celery beat → ``connections_dispatch_task``) queue a sync for each
connection that is due.

Due = status ``active`` or ``error`` and ``next_sync_at <= now``. ``reauth_required`` (paused until the user
reconnects) and ``disconnected`` connections are never dispatched. Claiming a connection moves its
``next_sync_at`` to the next planned slot in the same transaction (rows locked with ``SKIP LOCKED`` on
PostgreSQL), so two dispatchers never queue the same connection twice. Each sync is queued with a random
countdown (jitter) so a thousand connections due at the same minute do not hit their banks at the same second.
Banks with an unattended-access budget (``BankAdapter.unattended_calls_per_day``) are planned within it — see
``aggregator.sync.budget``. A connection a compliance clock stops (``aggregator.compliance.sca``: EU SCA lapsed,
UK consents not reconfirmed) is not synced and waits for its next slot.

The tasks are sent once the claim commits (so a worker always finds its run). When the broker refuses one (an
outage), that run and every one after it are deleted and their connections' ``next_sync_at`` put back where it
was: a connection moves to its next slot only with a task in the broker, so after an outage it is dispatched
again at the next minute rather than one interval later, and no ``queued`` row is left that no task will run.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from providers.registry import adapter_class

from ..compliance.clock import compliance_now
from ..compliance.sca import unattended_sync_allowed
from ..conf import aggregator_settings
from ..models import Connection, SyncRun
from . import budget, services, unattended

__all__ = ["DISPATCHABLE_STATUSES", "connections_dispatch_due", "dispatch_jitter_seconds"]

logger = logging.getLogger(__name__)

DISPATCHABLE_STATUSES = (Connection.Status.ACTIVE, Connection.Status.ERROR)


def dispatch_jitter_seconds() -> float:
    return float(aggregator_settings.SYNC_JITTER_SECONDS)


def connections_dispatch_due(*, now: datetime | None = None, limit: int = 500) -> list[SyncRun]:
    """Queue a scheduled sync for each due connection (at most ``limit`` per call); return the runs whose task was
    sent (call it outside a transaction: the tasks are sent when the claim commits)."""
    now = now or timezone.now()
    jitter = dispatch_jitter_seconds()
    stale = timedelta(seconds=getattr(settings, "CELERY_TASK_TIME_LIMIT", 900) * 2)
    claimed: list[tuple[SyncRun, datetime | None, datetime]] = []  # (run, previous next_sync_at, planned)
    clock = compliance_now()  # the regulatory clocks' now (the sandbox clock with the sandbox on)
    with transaction.atomic():
        due = (
            Connection.objects.filter(status__in=DISPATCHABLE_STATUSES, next_sync_at__lte=now)
            .select_related("institution")
            .order_by("next_sync_at", "pk")
        )
        if db.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        for connection in due[:limit]:
            try:
                adapter_cls = adapter_class(connection.institution.provider)
            except ImproperlyConfigured as exc:
                logger.error("connection %s: %s; not scheduling it for a day", connection.pk, exc)
                _plan(connection, now + timedelta(days=1))
                continue
            # A sync already waiting or running (worker down or slow): do not pile up another.
            busy = SyncRun.objects.filter(
                connection=connection,
                outcome__in=[SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING],
                queued_at__gt=now - stale,
            ).exists()
            if busy:
                continue
            if not unattended_sync_allowed(connection=connection, now=clock):  # compliance clocks, docs/compliance.md
                _plan(connection, budget.next_sync_at(connection, adapter_cls, now=now))
                continue
            if not budget.budget_allows(connection, adapter_cls, now=now):
                _plan(connection, budget.budget_next_free_at(connection, adapter_cls, now=now))
                continue
            if (free_at := unattended.unattended_due_at(connection=connection, now=now)) > now:
                _plan(connection, free_at)  # every data type at its regulatory limit (RTS Art. 36(5))
                continue
            previous = connection.next_sync_at
            planned = budget.next_sync_at(connection, adapter_cls, now=now)
            _plan(connection, planned)
            run = SyncRun.objects.create(
                connection=connection, trigger=SyncRun.Trigger.SCHEDULED, outcome=SyncRun.Outcome.QUEUED
            )
            claimed.append((run, previous, planned))
        sent: list[SyncRun] = []
        transaction.on_commit(lambda: sent.extend(_send(claimed, jitter)))
    if sent:
        logger.info("dispatched %d scheduled sync(s)", len(sent))
    return sent


def _send(claimed: list[tuple[SyncRun, datetime | None, datetime]], jitter: float) -> list[SyncRun]:
    """Send the claimed runs' tasks; on the first refusal, release that claim and every later one."""
    sent = []
    for index, (run, _, _) in enumerate(claimed):
        try:
            services.enqueue_connection_sync(
                sync_run_id=run.pk, countdown=random.uniform(0, jitter) if jitter > 0 else 0
            )
        except Exception as exc:  # kombu's OperationalError, a socket error, a timeout: the task was not sent
            unsent = claimed[index:]
            _release(unsent)
            logger.warning(
                "broker unavailable: %d scheduled sync(s) not queued, their connections stay due: %s: %s",
                len(unsent),
                type(exc).__name__,
                exc,
            )
            break
        sent.append(run)
    return sent


def _release(unsent: list[tuple[SyncRun, datetime | None, datetime]]) -> None:
    """Undo claims whose task was not sent: delete the run, put ``next_sync_at`` back (unless it moved since)."""
    with transaction.atomic():
        SyncRun.objects.filter(pk__in=[run.pk for run, _, _ in unsent], outcome=SyncRun.Outcome.QUEUED).delete()
        for run, previous, planned in unsent:
            Connection.objects.filter(pk=run.connection_id, next_sync_at=planned).update(next_sync_at=previous)


def _plan(connection: Connection, when: datetime) -> None:
    connection.next_sync_at = when
    Connection.objects.filter(pk=connection.pk).update(next_sync_at=when)
