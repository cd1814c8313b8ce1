"""One sync at a time per connection, across processes and machines, without holding a database session.

A lease row (``SyncLease``, one per connection being synced) names its holder by a random ``owner`` token and
lapses at ``expires_at``. Every step is a short transaction of its own, so a worker waiting for a bank holds no
database connection (``aggregator.sync.bank_calls`` closes it around each bank call):

* **claim** — take the row if it is absent (INSERT; the primary key makes a second claimant fail) or lapsed (an
  UPDATE whose WHERE re-checks ``expires_at``: under PostgreSQL's READ COMMITTED the loser of two concurrent
  UPDATEs re-reads the winner's row and matches nothing; SQLite serialises writers);
* **renew** — a heartbeat thread extends the lease every third of ``SYNC_LEASE_SECONDS``, and every page commit
  extends it inside the page's own transaction (:func:`lease_fence`);
* **fence** — :func:`lease_fence` updates the row *by owner* inside each write transaction of the sync: if the lease
  lapsed and another worker took it, no row matches, :class:`SyncLeaseLost` is raised and the page rolls back. The
  UPDATE keeps the row locked until that transaction commits, so the lease cannot change hands mid-page;
* **release** — DELETE by owner when the sync ends. A crashed worker's lease lapses ``SYNC_LEASE_SECONDS`` after its
  last renewal; the reaper then re-enqueues its run.

Clocks: expiry is written and compared with the workers' clocks (``timezone.now()``); keep them NTP-synced —
a skew well under ``SYNC_LEASE_SECONDS`` is harmless, and the fence never lets two holders write.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db import connection as db
from django.utils import timezone

from ..conf import aggregator_settings
from ..models import SyncRun
from .models import SyncLease

__all__ = [
    "SyncLeaseLost",
    "connection_lock",
    "connection_lock_free",
    "connection_lock_held",
    "connection_lock_run",
    "lease_claim",
    "lease_fence",
    "lease_release",
    "lease_renew",
]

logger = logging.getLogger(__name__)


class SyncLeaseLost(Exception):
    """This worker's lease on the connection lapsed and another worker holds it now: stop writing."""


@dataclass
class Lease:
    connection_id: int
    owner: uuid.UUID
    ttl: timedelta
    lost: threading.Event = field(default_factory=threading.Event)


# The lease the current sync holds (each worker thread runs one sync at a time; contextvars are per thread).
_held: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("sync_lease", default=None)


def _ttl() -> timedelta:
    return timedelta(seconds=float(aggregator_settings.SYNC_LEASE_SECONDS))


def lease_claim(*, connection_id: int, sync_run_id: int | None = None, ttl: timedelta | None = None) -> Lease | None:
    """Take the lease of ``connection_id`` if nobody holds it (absent or lapsed); ``None`` if another holder has it."""
    lease = Lease(connection_id=connection_id, owner=uuid.uuid4(), ttl=ttl or _ttl())
    now = timezone.now()
    values = {"owner": lease.owner, "sync_run_id": sync_run_id, "expires_at": now + lease.ttl}
    with transaction.atomic():
        if SyncLease.objects.filter(connection_id=connection_id, expires_at__lte=now).update(**values):
            return lease
    try:
        with transaction.atomic():
            SyncLease.objects.create(connection_id=connection_id, **values)
    except IntegrityError:
        return None  # held (or claimed by a concurrent worker a moment ago)
    return lease


def lease_renew(lease: Lease) -> bool:
    """Extend ``lease``; False when it is no longer ours (it lapsed and was taken, or was released)."""
    now = timezone.now()
    return bool(
        SyncLease.objects.filter(connection_id=lease.connection_id, owner=lease.owner, expires_at__gt=now).update(
            expires_at=now + lease.ttl
        )
    )


def lease_release(lease: Lease) -> None:
    SyncLease.objects.filter(connection_id=lease.connection_id, owner=lease.owner).delete()


def lease_fence() -> None:
    """Inside a write transaction of the sync: renew the current lease there (locking its row until the commit),
    or raise :class:`SyncLeaseLost` when it is not ours any more. A no-op outside a sync."""
    lease = _held.get()
    if lease is None:
        return
    if lease.lost.is_set() or not lease_renew(lease):
        lease.lost.set()
        raise SyncLeaseLost(f"the sync lease of connection {lease.connection_id} passed to another worker")


def _heartbeat(lease: Lease, stop: threading.Event) -> None:
    """Renew ``lease`` every third of its time to live until ``stop``; each renewal opens and closes this thread's
    own database connection, so the heartbeat holds none in between."""
    interval = lease.ttl.total_seconds() / 3
    try:
        while not stop.wait(interval):
            try:
                if not lease_renew(lease):
                    lease.lost.set()
                    logger.warning("sync lease of connection %s lost to another worker", lease.connection_id)
                    return
            except Exception:  # the database is away: the lease may still be ours; the fence decides at the write
                logger.exception("could not renew the sync lease of connection %s", lease.connection_id)
            finally:
                db.close()
    finally:
        db.close()


@contextlib.contextmanager
def connection_lock(*, connection_id: int, sync_run: SyncRun) -> Iterator[bool]:
    """Yield True if this worker now holds the sync lease of ``connection_id`` (False: another sync runs).

    Must be entered outside any transaction (the lease outlives the per-page transactions of the sync)."""
    lease = lease_claim(connection_id=connection_id, sync_run_id=sync_run.pk)
    if lease is None:
        yield False
        return
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(lease, stop), name=f"sync-lease-{connection_id}", daemon=True)
    token = _held.set(lease)
    beat.start()
    try:
        yield True
    finally:
        stop.set()
        beat.join(timeout=5)
        _held.reset(token)
        try:
            lease_release(lease)
        except Exception:  # the database is away: the lease lapses by itself
            logger.exception("could not release the sync lease of connection %s", connection_id)


def connection_lock_held(*, connection_id: int) -> bool:
    """Whether a live (unexpired) lease of ``connection_id`` exists: a worker is syncing it now."""
    return SyncLease.objects.filter(connection_id=connection_id, expires_at__gt=timezone.now()).exists()


def connection_lock_free(*, connection_id: int) -> bool:
    """Whether no worker holds the sync lease of ``connection_id`` (absent or lapsed)."""
    return not connection_lock_held(connection_id=connection_id)


def connection_lock_run(*, connection_id: int) -> int | None:
    """The id of the sync run whose worker holds the live lease of ``connection_id`` (``None``: nobody)."""
    return (
        SyncLease.objects.filter(connection_id=connection_id, expires_at__gt=timezone.now())
        .values_list("sync_run_id", flat=True)
        .first()
    )
