"""Entry points of the sync engine.

* ``sync_request`` — create a queued ``SyncRun`` and enqueue the Celery task once the transaction commits
  (``sync_request_many``: several at once). When the broker refuses the task the run is rolled back (deleted)
  and ``ServiceUnavailableError`` raised: no ``queued`` row is left that no task will ever pick up.
* ``connection_sync`` — run one sync now (what the task calls); see ``aggregator.sync.engine`` for the steps.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from celery import current_app
from django.db import transaction

from ..exceptions import ServiceUnavailableError
from ..models import Connection, SyncRun
from .engine import run_sync

__all__ = [
    "ATTENDED_TRIGGERS",
    "BROKER_RETRY_AFTER_SECONDS",
    "SYNC_TASK",
    "broker_producer",
    "connection_sync",
    "enqueue_connection_sync",
    "sync_request",
    "sync_request_many",
]

logger = logging.getLogger(__name__)

# The wait suggested to a caller whose sync could not be enqueued (the broker was unreachable).
BROKER_RETRY_AFTER_SECONDS = 30

# Services enqueue by task name (tasks import services, never the reverse).
SYNC_TASK = "aggregator.tasks.connection_sync_task"

# Triggers a present user can cause (and so may carry the user's IP address): the connect flow, a "sync now", and
# a third party's refresh made while its user is there (its request carries ``PSU-IP-Address`` or
# ``x-fapi-customer-ip-address``, as the bank APIs ask of a TPP). Never a scheduled one.
ATTENDED_TRIGGERS = frozenset({SyncRun.Trigger.CONNECT, SyncRun.Trigger.MANUAL, SyncRun.Trigger.API})


def _check_psu_ip(trigger: str, psu_ip_address: str) -> None:
    if psu_ip_address and trigger not in ATTENDED_TRIGGERS:
        raise ValueError(f"a {trigger} sync is unattended: it cannot carry the user's IP address")


def enqueue_connection_sync(
    *, sync_run_id: int, countdown: float = 0, psu_ip_address: str = "", producer: Any = None
) -> None:
    """Send the sync task of a queued ``SyncRun`` by name (called from ``transaction.on_commit``). ``producer``:
    one from :func:`broker_producer`, to send many tasks over one broker connection."""
    kwargs = {"psu_ip_address": psu_ip_address} if psu_ip_address else {}
    options = {"producer": producer} if producer is not None else {}
    current_app.signature(SYNC_TASK, args=[sync_run_id], kwargs=kwargs).apply_async(
        countdown=countdown or None, **options
    )


@contextlib.contextmanager
def broker_producer() -> Iterator[Any]:
    """One broker connection and producer for a batch of sends (``None`` when tasks run eagerly)."""
    if current_app.conf.task_always_eager:
        yield None
        return
    with current_app.producer_or_acquire() as producer:
        yield producer


def sync_request(*, connection: Connection, trigger: str, countdown: float = 0, psu_ip_address: str = "") -> SyncRun:
    """Queue a sync of ``connection``: a ``SyncRun`` in state ``queued`` now, the Celery task once the current
    transaction commits (so the worker always finds the row). ``countdown`` delays the task (dispatcher jitter).

    ``psu_ip_address``: the IP address of the user who asked for this sync *in person* (the connect flow, a
    "sync now" button) — the adapters tell the bank the user is present (Berlin Group ``PSU-IP-Address``), so the
    sync is not an unattended access and does not use the bank's daily allowance. Only ``connect``/``manual``
    triggers may carry one; a scheduled or third-party sync never does."""
    (sync_run,) = sync_request_many(
        connections=[connection], trigger=trigger, countdown=countdown, psu_ip_address=psu_ip_address
    )
    return sync_run


def sync_request_many(
    *,
    connections: list[Connection],
    trigger: str,
    countdown: float = 0,
    psu_ip_address: str = "",
    data_types: list[str] | None = None,
) -> list[SyncRun]:
    """``sync_request`` for each connection, enqueued by one commit callback: if the broker refuses a task, that
    run and every one after it are rolled back (deleted) and ``ServiceUnavailableError`` is raised from the
    commit, so the caller learns of it and no ``queued`` row is stranded (the ones sent before stay: their tasks
    are in the broker). ``data_types``: what the runs read (``accounts``, ``balances``, ``transactions``; default
    all)."""
    if trigger not in SyncRun.Trigger.values:
        raise ValueError(f"unknown sync trigger {trigger!r}; expected one of {', '.join(SyncRun.Trigger.values)}")
    _check_psu_ip(trigger, psu_ip_address)
    runs = [
        SyncRun.objects.create(
            connection=connection, trigger=trigger, outcome=SyncRun.Outcome.QUEUED, data_types=list(data_types or [])
        )
        for connection in connections
    ]
    attended = {"psu_ip_address": psu_ip_address} if psu_ip_address else {}

    def enqueue() -> None:
        for index, sync_run in enumerate(runs):
            try:
                enqueue_connection_sync(sync_run_id=sync_run.pk, countdown=countdown, **attended)
            except Exception as exc:  # kombu's OperationalError, a socket error, a timeout: the task was not sent
                unsent = [run.pk for run in runs[index:]]
                SyncRun.objects.filter(pk__in=unsent, outcome=SyncRun.Outcome.QUEUED).delete()
                logger.warning(
                    "broker unavailable, sync run(s) %s rolled back: %s: %s", unsent, type(exc).__name__, exc
                )
                raise ServiceUnavailableError(
                    "The sync could not be queued; retry later.", retry_after=BROKER_RETRY_AFTER_SECONDS
                ) from exc

    transaction.on_commit(enqueue)
    return runs


def connection_sync(
    *,
    connection: Connection,
    trigger: str = SyncRun.Trigger.MANUAL,
    sync_run: SyncRun | None = None,
    psu_ip_address: str = "",
) -> SyncRun:
    """Run one sync of ``connection`` now and return its finished ``SyncRun``.

    Steps: take the connection's sync lease (a concurrent sync → outcome ``skipped``) → refresh the credentials
    if they expire soon (rotated ones are stored, encrypted, at once) → accounts → balances → transactions
    (window dialects: from the last booking date seen minus ``SYNC_OVERLAP_DAYS``, widened to cover every live
    pending row; first sync: the full history the bank allows; cursor dialects: from the stored cursor, saved
    in the same database transaction as the page's rows) → upsert (one transaction per page) → reconcile
    (pending rows that posted under a new id or vanished from the window get ``removed_at``) → record counts and
    outcome → events on commit.

    A retry on the same ``sync_run`` resumes where it stopped (``aggregator.sync.progress``). ``psu_ip_address``:
    the user is present (see ``sync_request``).

    Errors: ``TransientProviderError`` / ``RateLimitedError`` are recorded and re-raised for the task to retry;
    ``ReauthRequiredError`` pauses the connection (``reauth_required``, no next sync) and announces it;
    ``PermanentProviderError`` sets the connection to ``error`` and is recorded. Whatever happens, every page
    that was committed is exact, so a retry or a second run converges on the same rows.
    """
    _check_psu_ip(sync_run.trigger if sync_run is not None else trigger, psu_ip_address)
    if sync_run is None:
        sync_run = SyncRun.objects.create(connection=connection, trigger=trigger, outcome=SyncRun.Outcome.QUEUED)
    return run_sync(connection=connection, sync_run=sync_run, psu_ip_address=psu_ip_address)
