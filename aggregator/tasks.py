"""Celery tasks of the aggregator: thin wrappers that take ids, load rows and call one service.

Retries: only ``TransientProviderError`` (which includes ``RateLimitedError``) is retried, with exponential
backoff plus full jitter, capped in delay and count; a bank's ``Retry-After`` is honoured when it is longer.
``acks_late`` + idempotent services mean a task redelivered after a worker crash just runs the sync again and
ends with the same rows.
"""

from __future__ import annotations

import logging
import random

from celery import shared_task
from django.conf import settings

from providers.base import RateLimitedError, TransientProviderError

from .models import SyncRun
from .sync.dispatch import connections_dispatch_due
from .sync.reaper import sync_runs_reap_stale
from .sync.services import connection_sync

__all__ = [
    "RETRY_BACKOFF_BASE",
    "RETRY_BACKOFF_MAX",
    "SYNC_MAX_RETRIES",
    "connection_sync_task",
    "connections_dispatch_task",
    "retry_countdown",
    "sync_runs_reap_task",
]

logger = logging.getLogger(__name__)

SYNC_MAX_RETRIES = 5
RETRY_BACKOFF_BASE = 30  # seconds; doubles per attempt
RETRY_BACKOFF_MAX = 30 * 60  # cap on one delay
_SOFT_LIMIT = getattr(settings, "CELERY_TASK_SOFT_TIME_LIMIT", 14 * 60)
_HARD_LIMIT = getattr(settings, "CELERY_TASK_TIME_LIMIT", 15 * 60)

# Outcomes after which a redelivered task has nothing left to do.
_DONE = {SyncRun.Outcome.SUCCEEDED, SyncRun.Outcome.SKIPPED, SyncRun.Outcome.REAUTH_REQUIRED}


def retry_countdown(retries: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (between half and all of the capped ceiling); never shorter than the
    bank's Retry-After (itself capped at an hour, so a silly header cannot park a task for days)."""
    ceiling = min(RETRY_BACKOFF_MAX, RETRY_BACKOFF_BASE * (2**retries))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after:
        delay = max(delay, min(float(retry_after), 3600.0))
    return delay


@shared_task(
    bind=True,
    name="aggregator.tasks.connection_sync_task",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=SYNC_MAX_RETRIES,
    soft_time_limit=_SOFT_LIMIT,
    time_limit=_HARD_LIMIT,
)
def connection_sync_task(self, sync_run_id: int, psu_ip_address: str = "") -> str | None:  # type: ignore[no-untyped-def]
    """Run the queued ``SyncRun`` ``sync_run_id`` (``psu_ip_address``: the user asked in person, see
    ``sync_request``; a retry is the same request); returns its outcome."""
    sync_run = SyncRun.objects.select_related("connection__institution").filter(pk=sync_run_id).first()
    if sync_run is None:
        logger.warning("sync run %s vanished before it ran", sync_run_id)
        return None
    if sync_run.outcome in _DONE:
        return sync_run.outcome
    try:
        sync_run = connection_sync(
            connection=sync_run.connection, trigger=sync_run.trigger, sync_run=sync_run, psu_ip_address=psu_ip_address
        )
    except RateLimitedError as exc:
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries, exc.retry_after)) from exc
    except TransientProviderError as exc:
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc
    return sync_run.outcome


@shared_task(name="aggregator.tasks.connections_dispatch_task", acks_late=True, soft_time_limit=50, time_limit=60)
def connections_dispatch_task() -> int:
    """Queue a sync for every connection that is due (run by celery beat every minute); returns how many."""
    return len(connections_dispatch_due())


@shared_task(name="aggregator.tasks.sync_runs_reap_task", acks_late=True, soft_time_limit=50, time_limit=60)
def sync_runs_reap_task() -> int:
    """Re-enqueue syncs whose worker died (run by celery beat every minute); returns how many."""
    return len(sync_runs_reap_stale())
