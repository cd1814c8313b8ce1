"""Unattended access per account and data type: PSD2 RTS Art. 36(5) (Delegated Regulation 2018/389) and the UK
SCA-RTS Art. 36(5) — without the user present, an AISP reads an account's data at most ``N`` times per 24 hours
(``Regime.unattended_per_day``: 4 for UK and EU banks, no cap for US ones), each data type — account details,
balances, transactions — counted on its own.

The one home of the rule, used by the scheduler (``dispatch`` queues a connection only when one of its data types
has budget; the engine, through :class:`AccessGate`, reads only those that still have it and skips the rest, which
the next sync reads — window dialects re-read from the last booking date, so nothing is lost) and by the refresh
endpoint (:func:`unattended_reserve`: the run's accesses are spent when the refresh is accepted, so a 202 is never
for a read the engine would then refuse).

- Counting: one :class:`UnattendedAccess` row per account, data type and sync run, at the compliance clock's
  instant (``aggregator.compliance.clock``: the sandbox clock with the sandbox on). A retry of a run reuses its
  rows. Spending locks the accounts' rows (``SELECT … FOR UPDATE``), counts the window and inserts in one
  transaction, so two workers never both spend the last slot.
- Window: rolling, ``24 h`` plus ``window.MARGIN`` (our clock and the bank's never disagree on which side of it
  an access falls); an access frees its slot ``24 h + MARGIN`` after it.
- User present (a ``psu_ip_address`` on the run: the connect flow, a manual sync with the user there, or a
  refresh whose request carries ``PSU-IP-Address`` / ``x-fapi-customer-ip-address``): not counted, not capped.
- Triggers ``scheduled`` and ``api`` are refused when the budget is spent; ``manual`` and ``connect`` without a
  user present (an operator's command) are counted but never refused, like the bank budget of ``budget``.
- Sharing: scheduled syncs use at most ``limit - UNATTENDED_KEEP_FOR_REFRESH`` (default 3 of 4) and are spaced
  ``24 h / that + MARGIN`` apart (``unattended_interval``, applied by ``budget.next_sync_at``), so the budget is
  spread over the day and a third party's unattended refresh always finds at least one read a day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction

from ..compliance.clock import compliance_now
from ..compliance.regimes import regime_for_institution
from ..conf import aggregator_settings
from ..exceptions import LimitReachedError
from ..models import Account, Connection, SyncRun
from .models import UnattendedAccess
from .window import DAY, MARGIN, UNATTENDED_TRIGGERS

__all__ = [
    "DATA_TYPES",
    "WINDOW",
    "AccessGate",
    "TypeBudget",
    "unattended_budget",
    "unattended_budget_meta",
    "unattended_due_at",
    "unattended_due_at_many",
    "unattended_interval",
    "unattended_limit",
    "unattended_release",
    "unattended_reserve",
]

DATA_TYPES: tuple[str, ...] = tuple(UnattendedAccess.DataType.values)
WINDOW: timedelta = DAY + MARGIN


def unattended_limit(*, connection: Connection, scheduled: bool = False) -> int | None:
    """Unattended accesses per account, data type and 24 hours at the connection's bank (None: no cap); for
    ``scheduled`` syncs, less the ``UNATTENDED_KEEP_FOR_REFRESH`` left to third parties' refreshes (at least 1)."""
    limit = regime_for_institution(connection.institution).unattended_per_day
    if limit is None or not scheduled:
        return limit
    return max(1, limit - int(aggregator_settings.UNATTENDED_KEEP_FOR_REFRESH))


def unattended_interval(*, connection: Connection) -> timedelta | None:
    """The spacing of scheduled syncs that spreads their share of the limit over the day (None: no cap)."""
    limit = unattended_limit(connection=connection, scheduled=True)
    return None if limit is None else DAY / limit + MARGIN


@dataclass(frozen=True)
class TypeBudget:
    """One data type's budget over some accounts: the smallest number left on any of them (``None``: no cap)
    and, when none is left on one of them, when every one of them has one again (on the compliance clock)."""

    limit: int | None
    remaining: int | None
    next_free_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "remaining": self.remaining, "next_free_at": self.next_free_at}


def _window(account_ids: Iterable[int], data_types: Iterable[str], now: datetime) -> dict[tuple[int, str], list]:
    """The accesses in the window before ``now``, oldest first, by (account id, data type). Rows after ``now``
    (written before the sandbox clock was reset to real time) are ignored, as ``budget`` ignores its own."""
    out: dict[tuple[int, str], list[datetime]] = {}
    rows = (
        UnattendedAccess.objects.filter(
            account_id__in=list(account_ids),
            data_type__in=list(data_types),
            accessed_at__gt=now - WINDOW,
            accessed_at__lte=now + MARGIN,
        )
        .order_by("accessed_at")
        .values_list("account_id", "data_type", "accessed_at")
    )
    for account_id, data_type, at in rows:
        out.setdefault((account_id, data_type), []).append(at)
    return out


def _free_at(times: Sequence[datetime], limit: int) -> datetime | None:
    """When one more access fits (None: now), given the window's accesses (oldest first)."""
    if len(times) < limit:
        return None
    return times[len(times) - limit] + WINDOW


def _live_account_ids(connections: Sequence[Connection]) -> dict[int, list[int]]:
    ids: dict[int, list[int]] = {c.pk: [] for c in connections}
    rows = Account.objects.filter(connection__in=[c.pk for c in connections], removed_at__isnull=True)
    for account_id, connection_id in rows.order_by("pk").values_list("pk", "connection_id"):
        ids[connection_id].append(account_id)
    return ids


def unattended_budget(
    *,
    connections: Sequence[Connection],
    data_types: Sequence[str] = DATA_TYPES,
    now: datetime | None = None,
    scheduled: bool = False,
) -> dict[str, TypeBudget]:
    """Each data type's budget over every live account of ``connections`` (``scheduled``: the scheduler's share)."""
    now = now or compliance_now()
    accounts = _live_account_ids(connections)
    window = _window([a for ids in accounts.values() for a in ids], data_types, now)
    return _budgets(connections, accounts, window, data_types, scheduled=scheduled)


def _budgets(
    connections: Sequence[Connection],
    accounts: dict[int, list[int]],
    window: dict[tuple[int, str], list[datetime]],
    data_types: Sequence[str],
    *,
    scheduled: bool,
) -> dict[str, TypeBudget]:
    out: dict[str, TypeBudget] = {}
    for data_type in data_types:
        limits: list[int] = []
        remaining: int | None = None
        free: list[datetime] = []
        for connection in connections:
            limit = unattended_limit(connection=connection, scheduled=scheduled)
            if limit is None:
                continue
            limits.append(limit)
            for account_id in accounts[connection.pk]:
                times = window.get((account_id, data_type), [])
                left = max(limit - len(times), 0)
                remaining = left if remaining is None else min(remaining, left)
                if (at := _free_at(times, limit)) is not None:
                    free.append(at)
            if remaining is None:  # no account yet: the whole budget
                remaining = limit
        limit_shown = min(limits) if limits else None
        out[data_type] = TypeBudget(limit_shown, remaining, max(free) if remaining == 0 and free else None)
    return out


def unattended_budget_meta(*, connections: Sequence[Connection]) -> dict[str, dict[str, Any]]:
    """``meta.unattended_access`` of the refresh and sync resources."""
    return {data_type: b.as_dict() for data_type, b in unattended_budget(connections=connections).items()}


def unattended_due_at(*, connection: Connection, now: datetime) -> datetime:
    """When the scheduler may queue a sync of ``connection`` (``now`` if a data type has budget now): the earliest
    time one data type has a slot of the scheduler's share on every account. ``now`` and the answer are on the
    real clock; the window is measured on the compliance clock, so only the wait is carried over."""
    return unattended_due_at_many(connections=[connection], now=now)[connection.pk]


def unattended_due_at_many(*, connections: Sequence[Connection], now: datetime) -> dict[int, datetime]:
    """:func:`unattended_due_at` for a dispatcher tick: two queries for all of ``connections`` (none when no bank
    among them caps unattended access)."""
    out = {c.pk: now for c in connections}
    capped = [c for c in connections if unattended_limit(connection=c) is not None]
    if not capped:
        return out
    clock_now = compliance_now()
    accounts = _live_account_ids(capped)
    window = _window([a for ids in accounts.values() for a in ids], DATA_TYPES, clock_now)
    for connection in capped:
        budgets = _budgets([connection], accounts, window, DATA_TYPES, scheduled=True)
        waits = [b.next_free_at - clock_now for b in budgets.values() if b.remaining == 0 and b.next_free_at]
        if len(waits) == len(budgets):
            out[connection.pk] = now + max(min(waits), timedelta(0))
    return out


def _spend(
    *,
    account_ids: Sequence[int],
    data_type: str,
    sync_run: SyncRun,
    limit: int,
    now: datetime,
    force: bool,
    each: bool = False,
) -> tuple[list[int], datetime | None]:
    """Spend one access of ``data_type`` of the accounts for ``sync_run`` (a retry reuses the run's own) — all of
    them or none, or with ``each`` every account on its own. Returns the accounts the run may read and, when some
    were refused, when the last of those has a slot again. One transaction of three statements (lock, read,
    insert; a fourth prunes accesses that can never count again)."""
    with transaction.atomic():
        # Serialises spenders of these accounts: the count below and the insert are one decision.
        list(Account.objects.select_for_update().filter(pk__in=account_ids).order_by("pk").values_list("pk"))
        rows = sorted(
            UnattendedAccess.objects.filter(account_id__in=account_ids, data_type=data_type).values_list(
                "pk", "account_id", "accessed_at", "sync_run_id"
            ),
            key=lambda row: row[2],
        )
        if stale := [pk for pk, _, at, _ in rows if at <= now - WINDOW]:
            UnattendedAccess.objects.filter(pk__in=stale).delete()
        spent = {account for _, account, _, run in rows if run == sync_run.pk}
        window: dict[int, list[datetime]] = {}
        for _, account, at, _ in rows:  # as ``_window``: later rows (a sandbox clock put back) do not count
            if now - WINDOW < at <= now + MARGIN:
                window.setdefault(account, []).append(at)
        todo = [a for a in account_ids if a not in spent]
        blocked = {} if force else {a: at for a in todo if (at := _free_at(window.get(a, []), limit)) is not None}
        if blocked and not each:
            return [], max(blocked.values())
        UnattendedAccess.objects.bulk_create(
            [
                UnattendedAccess(account_id=a, data_type=data_type, accessed_at=now, sync_run=sync_run)
                for a in todo
                if a not in blocked
            ]
        )
    return [a for a in account_ids if a not in blocked], max(blocked.values()) if blocked else None


def unattended_reserve(*, runs: Sequence[SyncRun], data_types: Sequence[str], now: datetime | None = None) -> None:
    """Spend, for each run (one per connection, trigger ``api``), one access of each data type of each of its
    connection's accounts; ``LimitReachedError`` (``unattended_limit_reached``, waiting until every asked type
    is free) when one has none left. Call inside the transaction that creates the runs: a refusal rolls back."""
    now = now or compliance_now()
    accounts = _live_account_ids([run.connection for run in runs])
    blocked: dict[str, datetime] = {}
    for run in runs:
        limit = unattended_limit(connection=run.connection)
        if limit is None:
            continue
        for data_type in data_types:
            _, free = _spend(
                account_ids=accounts[run.connection.pk],
                data_type=data_type,
                sync_run=run,
                limit=limit,
                now=now,
                force=False,
            )
            if free is not None:
                blocked[data_type] = max(free, blocked.get(data_type, free))
    if blocked:
        until = max(blocked.values())
        names = ", ".join(sorted(blocked))
        raise LimitReachedError(
            f"The unattended access limit (RTS Art. 36(5): {_limit_text(runs)} per account and data type per 24 "
            f"hours) is used up for {names} until {until.astimezone(UTC).isoformat()}. Ask for other "
            "data types, or refresh with the user present (PSU-IP-Address).",
            code="unattended_limit_reached",
            field="data_types",
            retry_after=max((until - now).total_seconds(), 1.0),
        )


def unattended_release(*, sync_run: SyncRun) -> None:
    """Give back the reads reserved for ``sync_run`` when it ends before reading anything (another sync was
    running, the connection needs re-authentication, the bank's own budget refused it)."""
    UnattendedAccess.objects.filter(sync_run=sync_run).delete()


def _limit_text(runs: Sequence[SyncRun]) -> str:
    limits = sorted({x for run in runs if (x := unattended_limit(connection=run.connection)) is not None})
    return " or ".join(str(x) for x in limits)


class AccessGate:
    """The rule inside one sync run: ``allow`` before each read of a data type (spends it, or reuses the run's
    reservation or earlier spend); ``record`` an access that already happened (a first account listing)."""

    def __init__(self, *, connection: Connection, sync_run: SyncRun, attended: bool) -> None:
        self.connection = connection
        self.sync_run = sync_run
        self.wanted = frozenset(sync_run.data_types or DATA_TYPES)
        self.scheduled = sync_run.trigger == SyncRun.Trigger.SCHEDULED
        self.limit = None if attended else unattended_limit(connection=connection, scheduled=self.scheduled)
        self.force = sync_run.trigger not in UNATTENDED_TRIGGERS
        self.skipped: dict[str, datetime] = {}

    def wants(self, data_type: str) -> bool:
        return data_type in self.wanted

    def any_open(self) -> bool:
        """Whether some wanted data type may be read (reserved by this run, or with budget now)."""
        if self.limit is None or self.force:
            return True
        if UnattendedAccess.objects.filter(sync_run=self.sync_run).exists():
            return True
        budgets = unattended_budget(
            connections=[self.connection], data_types=sorted(self.wanted), scheduled=self.scheduled
        )
        return any(b.remaining != 0 for b in budgets.values())

    def allow(self, account_ids: Sequence[int], data_type: str) -> bool:
        """Whether ``data_type`` of all of ``account_ids`` may be read now (all spent for this run, or none)."""
        if data_type not in self.wanted:
            return False
        return set(account_ids) <= self.allow_each(account_ids, data_type, each=False)

    def allow_each(self, account_ids: Sequence[int], data_type: str, *, each: bool = True) -> set[int]:
        """The accounts of ``account_ids`` whose ``data_type`` may be read now, each decided on its own and spent
        for this run at once (one transaction for all: a sync spends each data type once, not once an account)."""
        if data_type not in self.wanted:
            return set()
        if self.limit is None or not account_ids:
            return set(account_ids)
        allowed, free = _spend(
            account_ids=account_ids,
            data_type=data_type,
            sync_run=self.sync_run,
            limit=self.limit,
            now=compliance_now(),
            force=self.force,
            each=each,
        )
        if free is not None:
            self.skipped[data_type] = max(free, self.skipped.get(data_type, free))
        return set(allowed)

    def record(self, account_ids: Sequence[int], data_type: str) -> None:
        if self.limit is not None and account_ids:
            _spend(
                account_ids=account_ids,
                data_type=data_type,
                sync_run=self.sync_run,
                limit=self.limit,
                now=compliance_now(),
                force=True,
            )
