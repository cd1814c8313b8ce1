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

A tick costs a fixed handful of queries whatever the number of due connections (claim, busy check, an UPDATE per
distinct next slot, one bulk INSERT) plus one broker message each, sent over one producer; the due query is an
index scan on ``connection_due_idx`` (``python -m benchmarks fleet --no-fleet`` prints its EXPLAIN and timing).

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

from providers.base import BankAdapter
from providers.registry import adapter_class

from ..compliance.clock import compliance_now
from ..compliance.sca import unattended_sync_refusals
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
    sent (call it outside a transaction: the tasks are sent when the claim commits).

    Set-based: one query claims the due rows, one finds those with a sync already waiting or running, the plan
    (budget, next slot) is computed in Python, then one UPDATE of ``next_sync_at`` per distinct slot, one
    ``bulk_create`` of the ``SyncRun`` rows, and the tasks are published over one broker connection."""
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
        connections = list(due[:limit])
        # A sync already waiting or running (worker down or slow): do not pile up another.
        busy = set(
            SyncRun.objects.filter(
                connection_id__in=[c.pk for c in connections],
                outcome__in=[SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING],
                queued_at__gt=now - stale,
            ).values_list("connection_id", flat=True)
        )
        moved: list[Connection] = []  # connections whose next_sync_at changes
        to_queue: list[tuple[Connection, datetime | None, datetime]] = []
        adapters: dict[str, type[BankAdapter] | None] = {}
        candidates = [c for c in connections if c.pk not in busy]
        # The compliance clocks (docs/compliance.md) and the regulatory unattended limit, for the whole tick at once.
        refused = unattended_sync_refusals(connections=candidates, now=clock)
        free_at = unattended.unattended_due_at_many(connections=candidates, now=now)
        for connection in candidates:
            previous = connection.next_sync_at
            adapter_cls = _adapter_class(connection, adapters)
            if adapter_cls is None:
                connection.next_sync_at = now + timedelta(days=1)  # not scheduling it for a day
            elif connection.pk in refused:  # a compliance clock stopped unattended access
                connection.next_sync_at = budget.next_sync_at(connection, adapter_cls, now=now)
            elif not budget.budget_allows(connection, adapter_cls, now=now):
                connection.next_sync_at = budget.budget_next_free_at(connection, adapter_cls, now=now)
            elif free_at[connection.pk] > now:
                connection.next_sync_at = free_at[connection.pk]  # every data type at its limit (RTS Art. 36(5))
            else:
                connection.next_sync_at = budget.next_sync_at(connection, adapter_cls, now=now)
                to_queue.append((connection, previous, connection.next_sync_at))
            moved.append(connection)
        _plan_all(moved)
        runs = SyncRun.objects.bulk_create(
            [
                SyncRun(connection=connection, trigger=SyncRun.Trigger.SCHEDULED, outcome=SyncRun.Outcome.QUEUED)
                for connection, _, _ in to_queue
            ]
        )
        claimed = [(run, previous, planned) for run, (_, previous, planned) in zip(runs, to_queue, strict=True)]
        sent: list[SyncRun] = []
        transaction.on_commit(lambda: sent.extend(_send(claimed, jitter)))
    if sent:
        logger.info("dispatched %d scheduled sync(s)", len(sent))
    return sent


def _plan_all(connections: list[Connection]) -> None:
    """Store each connection's new ``next_sync_at``: one UPDATE per distinct time. Unbudgeted connections of a tick
    all move to ``now + SYNC_INTERVAL`` and each budgeted bank's to its own spacing, so a tick makes a few UPDATEs
    (a ``bulk_update`` CASE of 500 branches cost more to compile than the rest of the tick)."""
    by_time: dict[datetime, list[int]] = {}
    for connection in connections:
        by_time.setdefault(connection.next_sync_at, []).append(connection.pk)
    for when, pks in by_time.items():
        Connection.objects.filter(pk__in=pks).update(next_sync_at=when)


def _adapter_class(connection: Connection, cache: dict[str, type[BankAdapter] | None]) -> type[BankAdapter] | None:
    """The adapter class of the connection's bank (looked up once per bank and tick); ``None``, logged, when its
    institution names no registered adapter."""
    provider = connection.institution.provider
    if provider not in cache:
        try:
            cache[provider] = adapter_class(provider)
        except ImproperlyConfigured as exc:
            logger.error("institution provider %r: %s; its connections are not scheduled for a day", provider, exc)
            cache[provider] = None
    return cache[provider]


def _send(claimed: list[tuple[SyncRun, datetime | None, datetime]], jitter: float) -> list[SyncRun]:
    """Send the claimed runs' tasks; on the first refusal, release that claim and every later one."""
    sent: list[SyncRun] = []
    if not claimed:
        return sent
    try:
        with services.broker_producer() as producer:  # one broker connection for the whole tick
            for run, _, _ in claimed:
                services.enqueue_connection_sync(
                    sync_run_id=run.pk, countdown=random.uniform(0, jitter) if jitter > 0 else 0, producer=producer
                )
                sent.append(run)
    except Exception as exc:  # kombu's OperationalError, a socket error, a timeout: the task was not sent
        unsent = claimed[len(sent) :]
        _release(unsent)
        logger.warning(
            "broker unavailable: %d scheduled sync(s) not queued, their connections stay due: %s: %s",
            len(unsent),
            type(exc).__name__,
            exc,
        )
    return sent


def _release(unsent: list[tuple[SyncRun, datetime | None, datetime]]) -> None:
    """Undo claims whose task was not sent: delete the run, put ``next_sync_at`` back (unless it moved since)."""
    with transaction.atomic():
        SyncRun.objects.filter(pk__in=[run.pk for run, _, _ in unsent], outcome=SyncRun.Outcome.QUEUED).delete()
        for run, previous, planned in unsent:
            Connection.objects.filter(pk=run.connection_id, next_sync_at=planned).update(next_sync_at=previous)
