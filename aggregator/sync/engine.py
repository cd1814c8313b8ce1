"""The steps of one sync (called through ``aggregator.sync.services.connection_sync``).

Normalization happens in the adapters (``providers/``): by the time data reaches this module it is
``AccountData`` / ``BalanceData`` / ``TransactionData`` with signed ``Decimal`` amounts, ISO currencies, dates
and aware datetimes. This module decides *what* to fetch and *how* to store it exactly once.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone

from providers.base import (
    AccessTokenExpiredError,
    AccountData,
    BankAdapter,
    Credentials,
    PermanentProviderError,
    ProviderError,
    RateLimitedError,
    ReauthRequiredError,
    TransactionData,
    TransientProviderError,
)
from providers.registry import adapter_for

from ..conf import aggregator_settings
from ..connections.credentials import credentials_fresh, credentials_load, credentials_store
from ..domain_events import DomainEvent, publish
from ..models import Account, Connection, SyncRun, Transaction
from . import budget
from .accounts import accounts_upsert
from .locks import connection_lock
from .progress import RunProgress
from .upsert import UpsertResult, balances_upsert, transactions_mark_removed, transactions_upsert

__all__ = ["BUDGETED_TRIGGERS", "run_sync", "sync_overlap"]

logger = logging.getLogger(__name__)

# Triggers that must stay within a bank's unattended-access budget (the rest are a person's explicit request;
# unless the person is present — a PSU IP address — they are still counted, and the bank may refuse them with a
# 429).
BUDGETED_TRIGGERS = frozenset(budget.UNATTENDED_TRIGGERS)


class _BudgetSpent(Exception):
    """A resumed run would have to re-read a counted page and the budget has nothing left for it."""


def sync_overlap() -> timedelta:
    return timedelta(days=aggregator_settings.SYNC_OVERLAP_DAYS)


def _adapter_for(connection: Connection, psu_ip_address: str = "") -> BankAdapter:
    return adapter_for(connection.institution, psu_ip_address=psu_ip_address)


def _unattended_budget(adapter: BankAdapter) -> bool:
    """Whether this sync's calls count against the bank's unattended budget (a budget, and no user present)."""
    return budget.syncs_per_day(adapter) is not None and not adapter.psu_ip_address


def _stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "CELERY_TASK_TIME_LIMIT", 900) + 60)


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
    with connection_lock(connection_id=connection.pk, sync_run=sync_run, stale_after=_stale_after()) as acquired:
        if not acquired:
            return _finish(sync_run, SyncRun.Outcome.SKIPPED, code="already_running", detail="another sync is running")
        return _run_locked(connection, sync_run, psu_ip_address)


def _run_locked(connection: Connection, sync_run: SyncRun, psu_ip_address: str) -> SyncRun:
    connection.refresh_from_db()
    now = timezone.now()
    sync_run.outcome = SyncRun.Outcome.RUNNING
    sync_run.started_at = now
    sync_run.finished_at = None
    sync_run.save(update_fields=["outcome", "started_at", "finished_at"])

    if connection.status in (Connection.Status.REAUTH_REQUIRED, Connection.Status.DISCONNECTED):
        return _finish(
            sync_run,
            SyncRun.Outcome.SKIPPED,
            code=f"connection_{connection.status}",
            detail=f"the connection is {connection.status}; the user must reconnect",
        )
    try:
        adapter = _adapter_for(connection, psu_ip_address)
    except Exception as exc:  # ImproperlyConfigured: an institution pointing at an unknown adapter
        return _fail_permanent(connection, sync_run, PermanentProviderError(str(exc), code="no_adapter"))

    # Every unattended run counts against the bank's budget (once, its retries resume); budgeted triggers must
    # fit in it.
    if not _budget_spend(connection, adapter, sync_run):
        return _skip_daily_limit(sync_run, connection)
    progress = RunProgress(connection, sync_run)
    try:
        try:
            _pull(connection, adapter, sync_run, progress)
        except AccessTokenExpiredError:
            # The bank dropped the access token early: refresh (the refresh token decides) and go on from where
            # the run stopped (``progress``): what is stored is not asked for again.
            _credentials(connection, adapter, force=True)
            _pull(connection, adapter, sync_run, progress)
    except _BudgetSpent:
        return _skip_daily_limit(sync_run, connection)
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
    return _succeed(connection, adapter, sync_run)


def _budget_spend(connection: Connection, adapter: BankAdapter, sync_run: SyncRun, *, again: bool = False) -> bool:
    """Record the run's attempt at a budgeted bank (once per run unless ``again``: the run re-reads a counted page);
    False (nothing recorded) when a budgeted trigger has none left. Attended runs (user present) are free."""
    if not _unattended_budget(adapter):
        return True
    now = timezone.now()
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        if not again and budget.budget_run_recorded(locked, sync_run.pk):
            connection.sync_state = locked.sync_state
            return True  # a retry of a run that already has its attempt: it resumes, it does not start over
        if sync_run.trigger in BUDGETED_TRIGGERS and not budget.budget_allows(locked, adapter, now=now):
            connection.next_sync_at = budget.next_sync_at(locked, adapter, now=now)
            Connection.objects.filter(pk=connection.pk).update(next_sync_at=connection.next_sync_at)
            return False
        budget.budget_record(locked, now=now, run_id=sync_run.pk)
        Connection.objects.filter(pk=connection.pk).update(sync_state=locked.sync_state)
        connection.sync_state = locked.sync_state
    return True


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
        fresh = Connection.objects.select_for_update().get(pk=connection.pk)
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
def _credentials(connection: Connection, adapter: BankAdapter, *, force: bool = False) -> Credentials:
    if not force:
        return credentials_fresh(connection=connection, adapter=adapter)
    credentials = adapter.refresh(credentials_load(connection=connection))
    credentials_store(connection=connection, credentials=credentials)
    return credentials


def _pull(connection: Connection, adapter: BankAdapter, sync_run: SyncRun, progress: RunProgress) -> None:
    credentials = _credentials(connection, adapter)
    listed: dict[str, AccountData] = {}
    for data in adapter.list_accounts(credentials):
        listed[data.provider_account_id] = data
    accounts = accounts_upsert(connection=connection, accounts=list(listed.values()))
    by_provider_id = {a.provider_account_id: a for a in accounts}
    sync_run.accounts_count = len(accounts)
    SyncRun.objects.filter(pk=sync_run.pk).update(accounts_count=len(accounts))

    for provider_id, data in listed.items():
        if progress.has(f"balances:{provider_id}"):
            continue
        balances = adapter.get_balances(credentials, data)
        with transaction.atomic():
            balances_upsert(account_id=by_provider_id[provider_id].pk, balances=balances, now=timezone.now())
        progress.mark(f"balances:{provider_id}")

    if adapter.sync_mode == "cursor":
        _pull_cursor(connection, adapter, credentials, listed, by_provider_id, sync_run)
    else:
        for provider_id, data in listed.items():
            if progress.has(f"transactions:{provider_id}"):
                continue
            if progress.has(f"listed:{provider_id}") and not _budget_spend(connection, adapter, sync_run, again=True):
                raise _BudgetSpent  # the listing must start over: its first page is a counted access again
            _pull_window(adapter, credentials, data, by_provider_id[provider_id], sync_run, progress)
            progress.mark(f"transactions:{provider_id}")


def window_start(account: Account) -> date | None:
    """Where a window dialect's next fetch starts: the latest booking date we hold minus the overlap, moved
    earlier to cover every pending row still alive (so each is either re-served or reconciled). ``None`` (the
    full history the bank allows) when we hold nothing yet."""
    agg = Transaction.objects.filter(account=account).aggregate(
        last=Max("booking_date"),
        oldest_pending=Min("booking_date", filter=Q(status=Transaction.Status.PENDING, removed_at__isnull=True)),
    )
    if agg["last"] is None:
        return None
    since = agg["last"] - sync_overlap()
    if agg["oldest_pending"] is not None:
        since = min(since, agg["oldest_pending"])
    return since


def _store_page(
    *,
    sync_run: SyncRun,
    rows: list[tuple[int, TransactionData]],
    removed_ids: tuple[str, ...] = (),
    account_ids: list[int],
    cursor_update: dict | None = None,
    connection_id: int | None = None,
) -> UpsertResult:
    """One page, one transaction: upsert, link posted pendings, removals, counts (and the cursor)."""
    now = timezone.now()
    with transaction.atomic():
        result = transactions_upsert(rows=rows, now=now)
        removed = 0
        linked: dict[int, list[str]] = {}
        for account_id, item in rows:
            if item.status == Transaction.Status.BOOKED and item.pending_transaction_id:
                linked.setdefault(account_id, []).append(item.pending_transaction_id)
        for account_id, pending_ids in linked.items():
            removed += transactions_mark_removed(
                account_ids=[account_id], provider_ids=pending_ids, now=now, pending_only=True
            )
        if removed_ids:
            removed += transactions_mark_removed(account_ids=account_ids, provider_ids=removed_ids, now=now)
        if result.written or removed:
            SyncRun.objects.filter(pk=sync_run.pk).update(
                added_count=F("added_count") + result.added,
                modified_count=F("modified_count") + result.modified,
                removed_count=F("removed_count") + removed,
            )
        if cursor_update and connection_id is not None:
            Connection.objects.filter(pk=connection_id).update(**cursor_update)
    return result


def _pull_window(
    adapter: BankAdapter,
    credentials: Credentials,
    data: AccountData,
    account: Account,
    sync_run: SyncRun,
    progress: RunProgress,
) -> None:
    since = window_start(account)
    served_pending: set[str] = set()
    counted = _unattended_budget(adapter)
    for page in adapter.iter_transactions(credentials, data, since=since):
        if counted:  # the bank served the (counted) first page: a restart of this listing costs budget again
            progress.mark(f"listed:{account.provider_account_id}")
        items = [*page.transactions, *page.modified]
        for item in items:
            if item.provider_account_id and item.provider_account_id != account.provider_account_id:
                raise PermanentProviderError(
                    f"transaction {item.provider_transaction_id!r} belongs to another account", code="bad_account"
                )
            if item.status == Transaction.Status.PENDING:
                served_pending.add(item.provider_transaction_id)
        _store_page(
            sync_run=sync_run,
            rows=[(account.pk, item) for item in items],
            removed_ids=page.removed_ids,
            account_ids=[account.pk],
        )
    # Pending rows inside the fetched window that the bank no longer serves have posted or been dropped.
    alive = Transaction.objects.filter(account=account, status=Transaction.Status.PENDING, removed_at__isnull=True)
    if since is not None:
        alive = alive.filter(booking_date__gte=since)
    gone = [pid for pid in alive.values_list("provider_transaction_id", flat=True) if pid not in served_pending]
    if gone:
        with transaction.atomic():
            now = timezone.now()
            removed = transactions_mark_removed(account_ids=[account.pk], provider_ids=gone, now=now, pending_only=True)
            SyncRun.objects.filter(pk=sync_run.pk).update(removed_count=F("removed_count") + removed)


def _pull_cursor(
    connection: Connection,
    adapter: BankAdapter,
    credentials: Credentials,
    listed: dict[str, AccountData],
    by_provider_id: dict[str, Account],
    sync_run: SyncRun,
) -> None:
    if not listed:
        return
    all_ids = [a.pk for a in by_provider_id.values()]
    if getattr(adapter, "cursor_spans_accounts", False):
        targets = [(next(iter(listed.values())), None)]
    else:
        targets = [(data, by_provider_id[pid]) for pid, data in listed.items()]
    for data, only in targets:
        cursor = _cursor_get(connection, None if only is None else only.provider_account_id)
        for page in adapter.iter_transactions(credentials, data, cursor=cursor):
            rows: list[tuple[int, TransactionData]] = []
            for item in (*page.transactions, *page.modified):
                account = only if only is not None else by_provider_id.get(item.provider_account_id)
                if account is None or (
                    only is not None and item.provider_account_id not in ("", account.provider_account_id)
                ):
                    raise PermanentProviderError(
                        f"transaction {item.provider_transaction_id!r} for unknown account "
                        f"{item.provider_account_id!r}",
                        code="bad_account",
                    )
                rows.append((account.pk, item))
            update = None
            if page.next_cursor:
                update = _cursor_update(
                    connection, None if only is None else only.provider_account_id, page.next_cursor
                )
            _store_page(
                sync_run=sync_run,
                rows=rows,
                removed_ids=page.removed_ids,
                account_ids=all_ids if only is None else [only.pk],
                cursor_update=update,
                connection_id=connection.pk,
            )
            if page.next_cursor:
                cursor = page.next_cursor


def _cursor_get(connection: Connection, provider_account_id: str | None) -> str:
    if provider_account_id is None:
        return connection.sync_cursor
    return (connection.sync_state or {}).get("cursors", {}).get(provider_account_id, "")


def _cursor_update(connection: Connection, provider_account_id: str | None, cursor: str) -> dict:
    """The column updates that save ``cursor`` (applied in the page's transaction, after its rows)."""
    if provider_account_id is None:
        connection.sync_cursor = cursor
        return {"sync_cursor": cursor}
    state = dict(connection.sync_state or {})
    cursors = dict(state.get("cursors", {}))
    cursors[provider_account_id] = cursor
    state["cursors"] = cursors
    connection.sync_state = state
    return {"sync_state": state}
