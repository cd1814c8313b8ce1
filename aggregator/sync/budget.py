"""Unattended-access budgets and schedule planning.

Some banks cap how often we may read an account without the user present (Berlin Group's ``frequencyPerDay``;
the sandbox's ``rhein`` allows 4 a day). Every sync that reaches such a bank without the user present is an
unattended access of each of the connection's accounts, whatever its trigger, so each such sync run is recorded in
``connection.sync_state`` (``"unattended": [iso timestamps]``, trimmed to the last 24 hours) when it first
reaches the bank. Its retries resume where it stopped (``aggregator.sync.progress``) and are not recorded again
(``"unattended_runs"``: the ids of recent recorded runs) — unless a retry must re-read an account listing whose
first page the bank already served, which the engine records as one more attempt. A sync run for a user who is
present (``psu_ip_address``: the connect flow) is not an unattended access and is not recorded.

Rule: a budgeted sync may start at ``t`` only if fewer than ``syncs_per_day`` attempts happened in the 24 hours
before ``t``. A rolling window is stricter than any calendar day, in any time zone and on any clock that runs at
least as fast as ours (the sandbox clock can only be moved forward), so the bank's daily count can never be
exceeded by us. Scheduled syncs are also spaced by ``24h / syncs_per_day`` so the budget is spread over the day
rather than spent in the first hour — and at least as far apart as the regulatory limit per data type asks
(``aggregator.sync.unattended.unattended_interval``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from providers.base import BankAdapter

from ..conf import aggregator_settings
from ..models import Connection, SyncRun
from .unattended import unattended_interval
from .window import DAY, MARGIN, UNATTENDED_TRIGGERS

__all__ = [
    "BUDGET_KEY",
    "BUDGET_RUNS_KEY",
    "ENGINE_CALLS_PER_ACCOUNT",
    "UNATTENDED_TRIGGERS",
    "budget_allows",
    "budget_attempts",
    "budget_next_free_at",
    "budget_record",
    "budget_refusal_wait",
    "budget_run_recorded",
    "next_sync_at",
    "syncs_per_day",
]

BUDGET_KEY = "unattended"
BUDGET_RUNS_KEY = "unattended_runs"
_RUNS_KEPT = 20
# Counted calls one sync makes per account: balances + the first transactions page (see ``engine._pull``).
ENGINE_CALLS_PER_ACCOUNT = 2


def syncs_per_day(adapter_cls: type[BankAdapter] | BankAdapter) -> int | None:
    """How many syncs a day the bank's unattended limit allows (None: unlimited).

    The limit counts calls per account; one sync reads each account with ``ENGINE_CALLS_PER_ACCOUNT`` counted
    calls (balances, then the first page of transactions — Berlin Group banks do not count follow-up pages
    nor the account list). An adapter that spends a different number declares ``unattended_calls_per_sync``."""
    limit = getattr(adapter_cls, "unattended_calls_per_day", None)
    if not limit:
        return None
    per_sync = max(1, int(getattr(adapter_cls, "unattended_calls_per_sync", None) or ENGINE_CALLS_PER_ACCOUNT))
    return max(1, int(limit) // per_sync)


def budget_attempts(connection: Connection, *, now: datetime) -> list[datetime]:
    """The recorded attempts within the last 24 hours, oldest first."""
    raw: Sequence[str] = (connection.sync_state or {}).get(BUDGET_KEY, [])
    out = []
    for value in raw:
        try:
            when = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            continue
        if now - DAY - MARGIN < when <= now + MARGIN:
            out.append(when)
    return sorted(out)


def budget_allows(connection: Connection, adapter_cls: type[BankAdapter] | BankAdapter, *, now: datetime) -> bool:
    limit = syncs_per_day(adapter_cls)
    return limit is None or len(budget_attempts(connection, now=now)) < limit


def budget_next_free_at(
    connection: Connection, adapter_cls: type[BankAdapter] | BankAdapter, *, now: datetime
) -> datetime:
    """The earliest time a budgeted sync may start (``now`` if it may start now)."""
    limit = syncs_per_day(adapter_cls)
    attempts = budget_attempts(connection, now=now)
    if limit is None or len(attempts) < limit:
        return now
    # The window frees up when the oldest attempt that keeps it full leaves it.
    return attempts[len(attempts) - limit] + DAY + MARGIN


def _pending_unrecorded(connection: Connection, *, now: datetime) -> int:
    """Unattended syncs queued or running that have not recorded their attempt yet (each will spend one)."""
    recorded = set((connection.sync_state or {}).get(BUDGET_RUNS_KEY) or [])
    pending = SyncRun.objects.filter(
        connection=connection,
        trigger__in=UNATTENDED_TRIGGERS,
        outcome__in=(SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING),
        queued_at__gt=now - DAY,
    ).values_list("pk", flat=True)
    return sum(1 for pk in pending if pk not in recorded)


def budget_refusal_wait(
    connection: Connection, adapter_cls: type[BankAdapter] | BankAdapter, *, now: datetime
) -> float | None:
    """Seconds to wait before one more unattended sync of ``connection`` may be queued, or ``None`` if it may be
    queued now: the same rule the engine applies when the sync starts (attempts in the last 24 hours below
    ``syncs_per_day``), counting the unattended syncs already queued or running as spent."""
    limit = syncs_per_day(adapter_cls)
    if limit is None:
        return None
    attempts = budget_attempts(connection, now=now)
    used = len(attempts) + _pending_unrecorded(connection, now=now)
    if used < limit:
        return None
    oldest_needed = used - limit
    free_at = attempts[oldest_needed] + DAY + MARGIN if oldest_needed < len(attempts) else now + DAY
    return max((free_at - now).total_seconds(), 1.0)


def budget_run_recorded(connection: Connection, run_id: int) -> bool:
    """Whether sync run ``run_id`` already has its attempt recorded (a retry of it is not a new attempt)."""
    return run_id in ((connection.sync_state or {}).get(BUDGET_RUNS_KEY) or [])


def budget_record(connection: Connection, *, now: datetime, run_id: int | None = None) -> None:
    """Add one attempt (of sync run ``run_id``) to ``connection.sync_state`` (the caller saves ``sync_state``
    under a row lock)."""
    state = dict(connection.sync_state or {})
    kept = [a.isoformat() for a in budget_attempts(connection, now=now)]
    state[BUDGET_KEY] = [*kept, now.isoformat()]
    if run_id is not None:
        runs = [r for r in (state.get(BUDGET_RUNS_KEY) or []) if r != run_id]
        state[BUDGET_RUNS_KEY] = [*runs, run_id][-_RUNS_KEPT:]
    connection.sync_state = state


def next_sync_at(connection: Connection, adapter_cls: type[BankAdapter] | BankAdapter, *, now: datetime) -> datetime:
    """When the next scheduled sync of ``connection`` should run, given a sync starting (or started) ``now``."""
    interval: timedelta = aggregator_settings.SYNC_INTERVAL
    limit = syncs_per_day(adapter_cls)
    if limit is not None:
        interval = max(interval, DAY / limit + MARGIN)
    regulatory = unattended_interval(connection=connection)  # the regulatory limit, spread over the day too
    if regulatory is not None:
        interval = max(interval, regulatory)
    planned = now + interval
    return max(planned, budget_next_free_at(connection, adapter_cls, now=planned))
