"""Whether the data a third party reads is still being synced: the rule behind ``sync_in_progress`` /
``history_complete`` (delta feed meta) and ``in_progress`` / ``interrupted`` (the sync resource).

* A sync is **in progress** while its run is ``queued`` or ``running`` — including a run whose worker died
  mid-way (SIGKILL, OOM): its rows so far are committed and visible, the reaper (``aggregator.sync.reaper``)
  re-enqueues it and it resumes where it stopped, so until it finishes what a client reads is partial.
* A run is **interrupted** when it started and stopped without an outcome: ``running`` with no live worker (no
  unexpired sync lease on its connection, ``aggregator.sync.locks`` — read, never taken, so asking does not get
  in a starting worker's way; a dead worker's lease lapses ``SYNC_LEASE_SECONDS`` after its last renewal),
  or ``queued`` again after it had started (the reaper re-enqueued it; it resumes when a worker takes it).
* A connection's **history is complete** once one of its syncs succeeded (``last_synced_at`` is set): before
  that — first sync queued, running, interrupted or failing — the stored history is a prefix of the bank's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone

from ..models import Connection, SyncRun
from .locks import connection_lock_held

__all__ = ["IN_PROGRESS_OUTCOMES", "SyncStatus", "connections_sync_status", "sync_run_interrupted"]

IN_PROGRESS_OUTCOMES = (SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING)

# A run younger than this is not called interrupted: its worker may be taking the lock right now.
_STARTING_GRACE = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """The sync state of a set of connections (a consent's): see the module docstring."""

    in_progress: bool
    history_complete: bool


def connections_sync_status(*, connection_ids: Iterable[int]) -> SyncStatus:
    """One query: is a sync of any of these connections queued or running, and has each of them finished one?"""
    busy = SyncRun.objects.filter(connection=OuterRef("pk"), outcome__in=IN_PROGRESS_OUTCOMES)
    rows = list(
        Connection.objects.filter(pk__in=connection_ids)  # a list, or a subquery: one query either way
        .annotate(busy=Exists(busy))
        .values_list("last_synced_at", "busy")
    )
    return SyncStatus(
        in_progress=any(is_busy for _, is_busy in rows),
        history_complete=all(synced_at is not None for synced_at, _ in rows),
    )


def _lock_held(connection_id: int) -> bool:
    """Whether a worker holds the sync lease of ``connection_id`` (read only: asking never takes it)."""
    return connection_lock_held(connection_id=connection_id)


def sync_run_interrupted(run: SyncRun, *, now: datetime | None = None) -> bool:
    """Whether ``run`` started and stopped without an outcome (see the module docstring)."""
    if run.started_at is None:
        return False
    if run.outcome == SyncRun.Outcome.QUEUED:
        return True  # re-enqueued by the reaper after its worker died: waiting to resume
    if run.outcome != SyncRun.Outcome.RUNNING:
        return False
    now = now or timezone.now()
    if run.started_at > now - _STARTING_GRACE:
        return False
    return not _lock_held(run.connection_id)
