"""One sync at a time per connection, across processes and machines.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) keyed by the connection id; it is released
explicitly, or by the server when the worker's database session dies, so a crashed worker never leaves it held.

SQLite (single machine, development): best effort through the ``SyncRun`` table — a run may start only if no
other run of the same connection is ``running`` and started less than ``stale_after`` ago. SQLite serialises
writers, so the claiming UPDATE is atomic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

from django.db import connection as db
from django.db import transaction
from django.db.models import Exists
from django.utils import timezone

from ..models import SyncRun

__all__ = ["LOCK_NAMESPACE", "connection_lock", "connection_lock_free"]

# First key of the two-int advisory lock: a constant that names "connection sync" locks in this database.
LOCK_NAMESPACE = 0x5359  # "SY"


@contextlib.contextmanager
def connection_lock(*, connection_id: int, sync_run: SyncRun, stale_after: timedelta) -> Iterator[bool]:
    """Yield True if this process now holds the sync lock of ``connection_id`` (False: another sync runs).

    Must be entered outside any transaction (the lock outlives the per-page transactions of the sync)."""
    if db.vendor == "postgresql":
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, connection_id])
            acquired = bool(cursor.fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired:
                with db.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, connection_id])
        return

    now = timezone.now()
    with transaction.atomic():
        others = SyncRun.objects.filter(
            connection_id=connection_id, outcome=SyncRun.Outcome.RUNNING, started_at__gt=now - stale_after
        ).exclude(pk=sync_run.pk)
        claimed = (
            SyncRun.objects.filter(pk=sync_run.pk)
            .filter(~Exists(others))
            .update(outcome=SyncRun.Outcome.RUNNING, started_at=now)
        )
    yield bool(claimed)


def connection_lock_free(*, connection_id: int) -> bool | None:
    """PostgreSQL: whether no session holds the sync lock of ``connection_id`` (taken and released at once).
    ``None`` elsewhere: SQLite has no lock to ask about (the caller falls back on ``started_at``)."""
    if db.vendor != "postgresql":
        return None
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, connection_id])
        free = bool(cursor.fetchone()[0])
        if free:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, connection_id])
    return free
