"""Fetching a connection's data from its bank and storing it page by page (called by ``engine.run_sync``).

Accounts → balances → transactions, each read only where the run's ``AccessGate`` allows (its data types, within
the unattended-access limits: ``aggregator.sync.unattended``): date-window dialects re-read from the last booking
date seen minus the overlap; cursor dialects continue from the stored cursor, saved in the same database
transaction as the page's rows. ``progress`` lets a retried run resume where it stopped.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone

from providers.base import AccountData, BankAdapter, Credentials, PermanentProviderError, TransactionData

from ..conf import aggregator_settings
from ..connections.credentials import credentials_fresh, credentials_load, credentials_store
from ..models import Account, Connection, SyncRun, Transaction
from .accounts import ACCOUNT_FIELDS, accounts_upsert
from .allowance import BudgetSpent, budget_spend, unattended_budget
from .locks import lease_fence
from .progress import RunProgress
from .unattended import AccessGate
from .upsert import UpsertResult, balances_upsert, transactions_mark_removed, transactions_upsert

__all__ = ["credentials_for", "pull", "store_page", "sync_overlap", "window_start"]


def sync_overlap() -> timedelta:
    return timedelta(days=aggregator_settings.SYNC_OVERLAP_DAYS)


def credentials_for(connection: Connection, adapter: BankAdapter, *, force: bool = False) -> Credentials:
    if not force:
        return credentials_fresh(connection=connection, adapter=adapter)
    credentials = adapter.refresh(credentials_load(connection=connection))
    credentials_store(connection=connection, credentials=credentials)
    return credentials


def _stored(account: Account) -> AccountData:
    """The account as last listed by the bank (read instead of the listing when account details are not read)."""
    return AccountData(
        provider_account_id=account.provider_account_id,
        **{name: getattr(account, name) for name in ACCOUNT_FIELDS if name != "raw"},
        raw=dict(account.raw or {}),
    )


def _list_accounts(
    connection: Connection, adapter: BankAdapter, credentials: Credentials, gate: AccessGate
) -> tuple[dict[str, AccountData], list[Account]]:
    """The accounts to read: the bank's listing when account details may be read (or nothing is stored yet: a
    listing is the only way to learn of them), else the stored ones (``unattended``: details are a data type)."""
    known = list(Account.objects.filter(connection=connection, removed_at__isnull=True).order_by("pk"))
    known_ids = [a.pk for a in known]
    if known and not gate.allow(known_ids, "accounts"):
        return {a.provider_account_id: _stored(a) for a in known}, known
    listed: dict[str, AccountData] = {}
    for data in adapter.list_accounts(credentials):
        listed[data.provider_account_id] = data
    accounts = accounts_upsert(connection=connection, accounts=list(listed.values()))
    gate.record([a.pk for a in accounts if a.pk not in set(known_ids)], "accounts")  # read by this listing
    return listed, accounts


def pull(
    connection: Connection, adapter: BankAdapter, sync_run: SyncRun, progress: RunProgress, gate: AccessGate
) -> None:
    """Read what ``gate`` allows (the run's data types, within the unattended-access limits) and store it."""
    credentials = credentials_for(connection, adapter)
    listed, accounts = _list_accounts(connection, adapter, credentials, gate)
    by_provider_id = {a.provider_account_id: a for a in accounts}
    sync_run.accounts_count = len(accounts)
    SyncRun.objects.filter(pk=sync_run.pk).update(accounts_count=len(accounts))

    readable = gate.allow_each(_todo(listed, by_provider_id, progress, "balances"), "balances")
    for provider_id, data in listed.items():
        if by_provider_id[provider_id].pk not in readable:
            continue
        balances = adapter.get_balances(credentials, data)
        with transaction.atomic():
            balances_upsert(account_id=by_provider_id[provider_id].pk, balances=balances, now=timezone.now())
            progress.mark(f"balances:{provider_id}")

    if adapter.sync_mode == "cursor":
        _pull_cursor(connection, adapter, credentials, listed, by_provider_id, sync_run, gate)
    else:
        readable = gate.allow_each(_todo(listed, by_provider_id, progress, "transactions"), "transactions")
        for provider_id, data in listed.items():
            if by_provider_id[provider_id].pk not in readable:
                continue
            if progress.has(f"listed:{provider_id}") and not budget_spend(connection, adapter, sync_run, again=True):
                raise BudgetSpent  # the listing must start over: its first page is a counted access again
            _pull_window(adapter, credentials, data, by_provider_id[provider_id], sync_run, progress)
            progress.mark(f"transactions:{provider_id}")


def _todo(
    listed: dict[str, AccountData], by_provider_id: dict[str, Account], progress: RunProgress, step: str
) -> list[int]:
    """The accounts whose ``step`` (``balances``, ``transactions``) this run has not finished yet."""
    return [by_provider_id[pid].pk for pid in listed if not progress.has(f"{step}:{pid}")]


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


def store_page(
    *,
    sync_run: SyncRun,
    rows: list[tuple[int, TransactionData]],
    removed_ids: tuple[str, ...] = (),
    account_ids: list[int],
    cursor_update: dict | None = None,
    connection_id: int | None = None,
) -> UpsertResult:
    """One page, one transaction: upsert, link posted pendings, removals, counts (and the cursor). A page that
    brings nothing (an incremental sync of a quiet account) writes nothing, so it needs no transaction."""
    if not rows and not removed_ids and not cursor_update:
        return UpsertResult()
    now = timezone.now()
    with transaction.atomic():
        lease_fence()  # a worker whose lease lapsed and passed on writes nothing (it raises SyncLeaseLost)
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
    counted = unattended_budget(adapter)
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
        store_page(
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
    gate: AccessGate,
) -> None:
    if not listed:
        return
    all_ids = [a.pk for a in by_provider_id.values()]
    if getattr(adapter, "cursor_spans_accounts", False):
        targets = [(next(iter(listed.values())), None)]
    else:
        targets = [(data, by_provider_id[pid]) for pid, data in listed.items()]
    for data, only in targets:
        if not gate.allow(all_ids if only is None else [only.pk], "transactions"):
            continue
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
            store_page(
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
