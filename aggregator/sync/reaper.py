"""The stale-run reaper: re-enqueue syncs whose worker died (a periodic task, every minute).

A worker killed mid-sync (SIGKILL, OOM, a lost machine) leaves its ``SyncRun`` ``running`` and its task unacked
in the broker until the broker's visibility timeout redelivers it. The reaper does not wait for that:

* ``running`` for more than :data:`RUNNING_GRACE` with no live sync lease on its connection (the dead worker's
  lease lapsed ``SYNC_LEASE_SECONDS`` after its last heartbeat; ``aggregator.sync.locks``): the run is orphaned.
* ``queued`` for longer than twice the hard time limit (its task was lost, or the broker was down when it was sent).

Each such run is set back to ``queued`` (``queued_at`` now, so it is not reaped again at once) and its task sent
again. This is safe because a sync resumes where it stopped (``aggregator.sync.progress``) and a redelivered task
finds its run done and returns; the original task, if the broker redelivers it later, does the same.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..models import SyncRun
from .locks import connection_lock_free
from .services import enqueue_connection_sync

__all__ = ["RUNNING_GRACE", "sync_runs_reap_stale"]

logger = logging.getLogger(__name__)

# A run younger than this is never reaped: its worker may be taking the lock right now.
RUNNING_GRACE = timedelta(minutes=2)


def _hard_limit() -> timedelta:
    return timedelta(seconds=getattr(settings, "CELERY_TASK_TIME_LIMIT", 900))


def _orphaned(run: SyncRun) -> bool:
    if run.outcome == SyncRun.Outcome.QUEUED:
        return True  # selected by age already
    return connection_lock_free(connection_id=run.connection_id)


def sync_runs_reap_stale(*, now: datetime | None = None) -> list[int]:
    """Re-enqueue every orphaned ``running``/``queued`` run (see the module docstring); returns their ids."""
    now = now or timezone.now()
    candidates = SyncRun.objects.filter(
        Q(outcome=SyncRun.Outcome.RUNNING, started_at__lt=now - RUNNING_GRACE)
        | Q(outcome=SyncRun.Outcome.QUEUED, queued_at__lt=now - 2 * _hard_limit())
    ).order_by("id")
    reaped = []
    for run in candidates:
        if not _orphaned(run):
            continue
        updated = SyncRun.objects.filter(pk=run.pk, outcome=run.outcome).update(
            outcome=SyncRun.Outcome.QUEUED, queued_at=now
        )
        if not updated:
            continue  # it moved on meanwhile
        enqueue_connection_sync(sync_run_id=run.pk)
        logger.warning("sync run %s was %s with no live worker: re-enqueued", run.pk, run.outcome)
        reaped.append(run.pk)
    return reaped
