"""One sync run from start to outcome (called through ``aggregator.sync.services.connection_sync``): the lock,
the bank's allowance (``allowance``), fetching and storing (``pull``), and the outcome — succeeded, skipped,
reauth_required, failed — with its domain event.

Normalization happens in the adapters (``providers/``): by the time data reaches the sync it is ``AccountData`` /
``BalanceData`` / ``TransactionData`` with signed ``Decimal`` amounts, ISO currencies, dates and aware datetimes.
"""

from __future__ import annotations

import logging
from typing import cast

from django.db import transaction
from django.utils import timezone

from providers.base import (
    AccessTokenExpiredError,
    BankAdapter,
    PermanentProviderError,
    ProviderError,
    RateLimitedError,
    ReauthRequiredError,
    TransientProviderError,
)
from providers.registry import adapter_for

from ..compliance.sca import unattended_sync_allowed
from ..conf import aggregator_settings
from ..domain_events import DomainEvent, publish
from ..models import Connection, SyncRun
from ..observability.syncs import sync_observed
from . import budget
from .allowance import BudgetSpent, budget_spend
from .bank_calls import DbReleasingAdapter, db_release
from .locks import SyncLeaseLost, connection_lock, connection_lock_run, lease_fence
from .progress import RunProgress
from .pull import credentials_for, pull
from .unattended import AccessGate, unattended_release
from .window import UNATTENDED_TRIGGERS

__all__ = ["run_sync"]

logger = logging.getLogger(__name__)


def _adapter_for(connection: Connection, psu_ip_address: str = "") -> BankAdapter:
    return adapter_for(connection.institution, psu_ip_address=psu_ip_address)


def _finish(sync_run: SyncRun, outcome: str, *, code: str = "", detail: str = "") -> SyncRun:
    sync_run.outcome = outcome
    sync_run.error_code = code[:64]
    sync_run.error_detail = detail[:2000]
    sync_run.finished_at = timezone.now()
    if sync_run.started_at is None:
        sync_run.started_at = sync_run.finished_at
    sync_run.save(
        update_fields=["outcome", "error_code", "error_detail", "started_at", "finished_at", "accounts_count"]
    )
    return sync_run


def run_sync(*, connection: Connection, sync_run: SyncRun, psu_ip_address: str = "") -> SyncRun:
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("connection_sync must run outside a transaction: it commits page by page")
    try:
        with (
            sync_observed(connection=connection, sync_run=sync_run),
            connection_lock(connection_id=connection.pk, sync_run=sync_run) as acquired,
        ):
            if not acquired:
                return _not_acquired(sync_run)
            return _run_locked(connection, sync_run, psu_ip_address)
    finally:
        db_release()  # an idle worker thread keeps no database session either


def _not_acquired(sync_run: SyncRun) -> SyncRun:
    sync_run.refresh_from_db(fields=["outcome"])
    if sync_run.outcome == SyncRun.Outcome.RUNNING:
        # This very run is under way in another worker (the broker redelivered its task, or the reaper re-sent
        # it): that worker records its outcome. Were it orphaned, the reaper re-sends it once the lease lapses.
        logger.info("sync run %s is already running elsewhere: left to that worker", sync_run.pk)
        return sync_run
    unattended_release(sync_run=sync_run)  # it read nothing: the reads reserved for it are given back
    return _finish(sync_run, SyncRun.Outcome.SKIPPED, code="already_running", detail="another sync is running")


def _run_locked(connection: Connection, sync_run: SyncRun, psu_ip_address: str) -> SyncRun:
    connection.refresh_from_db(from_queryset=Connection.objects.select_related("institution"))
    now = timezone.now()
    sync_run.outcome = SyncRun.Outcome.RUNNING
    sync_run.started_at = now
    sync_run.finished_at = None
    sync_run.save(update_fields=["outcome", "started_at", "finished_at"])

    if connection.status in (Connection.Status.REAUTH_REQUIRED, Connection.Status.DISCONNECTED):
        unattended_release(sync_run=sync_run)
        return _finish(
            sync_run,
            SyncRun.Outcome.SKIPPED,
            code=f"connection_{connection.status}",
            detail=f"the connection is {connection.status}; the user must reconnect",
        )
    if (
        not psu_ip_address
        and sync_run.trigger in UNATTENDED_TRIGGERS
        and not unattended_sync_allowed(connection=connection)
    ):
        unattended_release(sync_run=sync_run)
        return _finish(sync_run, SyncRun.Outcome.SKIPPED, code="compliance_clock", detail="see docs/compliance.md")
    try:
        # The adapter's bank calls release this thread's database session while they wait (bank_calls).
        adapter = cast(BankAdapter, DbReleasingAdapter(_adapter_for(connection, psu_ip_address)))
    except Exception as exc:  # ImproperlyConfigured: an institution pointing at an unknown adapter
        unattended_release(sync_run=sync_run)
        return _fail_permanent(connection, sync_run, PermanentProviderError(str(exc), code="no_adapter"))

    # Every unattended run counts against the bank's budget (once, its retries resume); budgeted triggers must
    # fit in it.
    if not budget_spend(connection, adapter, sync_run):
        unattended_release(sync_run=sync_run)
        return _skip_daily_limit(sync_run, connection)
    # The regulatory limit per account and data type (RTS Art. 36(5)): the run reads only what has budget.
    gate = AccessGate(connection=connection, sync_run=sync_run, attended=bool(psu_ip_address))
    if not gate.any_open():
        return _finish(
            sync_run,
            SyncRun.Outcome.SKIPPED,
            code="unattended_limit",
            detail="every data type asked for is at its unattended-access limit (RTS Art. 36(5))",
        )
    progress = RunProgress(connection, sync_run)
    try:
        try:
            pull(connection, adapter, sync_run, progress, gate)
        except AccessTokenExpiredError:
            # The bank dropped the access token early: refresh (the refresh token decides) and go on from where
            # the run stopped (``progress``): what is stored is not asked for again.
            credentials_for(connection, adapter, force=True)
            pull(connection, adapter, sync_run, progress, gate)
    except BudgetSpent:
        return _skip_daily_limit(sync_run, connection)
    except SyncLeaseLost as exc:
        return _lease_lost(connection, sync_run, exc)
    except ReauthRequiredError as exc:
        return _reauth_required(connection, sync_run, exc)
    except RateLimitedError as exc:
        _record_transient(connection, sync_run, SyncRun.Outcome.RATE_LIMITED, exc)
        raise
    except TransientProviderError as exc:
        _record_transient(connection, sync_run, SyncRun.Outcome.FAILED, exc)
        raise
    except PermanentProviderError as exc:
        return _fail_permanent(connection, sync_run, exc)
    except ProviderError as exc:  # an adapter-specific subclass outside the taxonomy: treat as permanent
        return _fail_permanent(connection, sync_run, PermanentProviderError(str(exc), code=exc.code))
    except BaseException as exc:  # a bug, a time limit, a lost database: record it, let the task see it
        _record_transient(connection, sync_run, SyncRun.Outcome.FAILED, exc, code="internal_error")
        raise
    try:
        return _succeed(connection, adapter, sync_run)
    except SyncLeaseLost as exc:
        return _lease_lost(connection, sync_run, exc)


def _lease_lost(connection: Connection, sync_run: SyncRun, exc: SyncLeaseLost) -> SyncRun:
    """Our lease lapsed (a stall longer than SYNC_LEASE_SECONDS) and another worker syncs the connection now: its
    writes are the ones that count. This run stops without touching the connection."""
    logger.warning("sync %s of connection %s stopped: %s", sync_run.pk, connection.pk, exc)
    if connection_lock_run(connection_id=connection.pk) == sync_run.pk:
        return sync_run  # the reaper re-sent this very run and its new worker records the outcome
    return _finish(sync_run, SyncRun.Outcome.FAILED, code="lease_lost", detail=str(exc))


def _skip_daily_limit(sync_run: SyncRun, connection: Connection) -> SyncRun:
    return _finish(
        sync_run,
        SyncRun.Outcome.SKIPPED,
        code="daily_limit",
        detail=f"the bank's unattended limit is used up until {connection.next_sync_at.isoformat()}",
    )


# --- outcomes ---------------------------------------------------------------------------------------------
def _succeed(connection: Connection, adapter: BankAdapter, sync_run: SyncRun) -> SyncRun:
    now = timezone.now()
    with transaction.atomic():
        lease_fence()  # the success is recorded only by the lease's holder
        fresh = Connection.objects.select_for_update().get(pk=connection.pk)
        fresh.institution = connection.institution  # loaded with the run (the plan below reads it)
        state = dict(fresh.sync_state or {})
        RunProgress.forget(state)
        updates = {
            "status": Connection.Status.ACTIVE if fresh.status == Connection.Status.ERROR else fresh.status,
            "last_synced_at": now,
            "last_error": "",
            "sync_state": state,
        }
        if fresh.status not in (Connection.Status.REAUTH_REQUIRED, Connection.Status.DISCONNECTED):
            # Keep a later plan: the dispatcher already claimed the next slot when it queued this sync.
            planned = budget.next_sync_at(fresh, adapter, now=now)
            updates["next_sync_at"] = max(planned, fresh.next_sync_at or planned)
        Connection.objects.filter(pk=connection.pk).update(**updates, updated_at=now)
        sync_run.refresh_from_db(fields=["added_count", "modified_count", "removed_count"])
        _finish(sync_run, SyncRun.Outcome.SUCCEEDED)
        publish(
            DomainEvent(
                name="sync.completed",
                subject_type="sync_run",
                subject_id=str(sync_run.public_id),
                data={
                    "connection_id": str(connection.public_id),
                    "outcome": sync_run.outcome,
                    "counts": {
                        "added": sync_run.added_count,
                        "modified": sync_run.modified_count,
                        "removed": sync_run.removed_count,
                    },
                },
            )
        )
    for key, value in updates.items():
        setattr(connection, key, value)
    return sync_run


def _reauth_required(connection: Connection, sync_run: SyncRun, exc: ProviderError) -> SyncRun:
    with transaction.atomic():
        Connection.objects.filter(pk=connection.pk).update(
            status=Connection.Status.REAUTH_REQUIRED,
            next_sync_at=None,
            last_error=f"{exc.code}: {exc}"[:2000],
            updated_at=timezone.now(),
        )
        connection.refresh_from_db()
        _finish(sync_run, SyncRun.Outcome.REAUTH_REQUIRED, code=exc.code, detail=str(exc))
        publish(
            DomainEvent(
                name="connection.reauth_required",
                subject_type="connection",
                subject_id=str(connection.public_id),
                data={"error_code": exc.code},
            )
        )
    return sync_run


def _fail_permanent(connection: Connection, sync_run: SyncRun, exc: ProviderError) -> SyncRun:
    logger.warning("sync %s of connection %s failed permanently: %s", sync_run.pk, connection.pk, exc.code)
    now = timezone.now()
    interval = aggregator_settings.SYNC_INTERVAL
    with transaction.atomic():
        Connection.objects.filter(pk=connection.pk).exclude(
            status__in=[Connection.Status.REAUTH_REQUIRED, Connection.Status.DISCONNECTED]
        ).update(
            status=Connection.Status.ERROR,
            next_sync_at=now + interval,
            last_error=f"{exc.code}: {exc}"[:2000],
            updated_at=now,
        )
        connection.refresh_from_db()
        _finish(sync_run, SyncRun.Outcome.FAILED, code=exc.code, detail=str(exc))
    return sync_run


def _record_transient(
    connection: Connection, sync_run: SyncRun, outcome: str, exc: BaseException, *, code: str = ""
) -> None:
    code = code or getattr(exc, "code", "") or type(exc).__name__
    detail = str(exc) or type(exc).__name__
    logger.info("sync %s of connection %s: %s (%s), will be retried", sync_run.pk, connection.pk, outcome, code)
    try:
        Connection.objects.filter(pk=connection.pk).update(last_error=f"{code}: {detail}"[:2000])
        _finish(sync_run, outcome, code=code, detail=detail)
    except Exception:  # the database itself may be what failed; the task's own error is what matters
        logger.exception("could not record the outcome of sync %s", sync_run.pk)


# --- fetching and storing ---------------------------------------------------------------------------------
