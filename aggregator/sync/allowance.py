"""Spending a bank's unattended-access allowance during a sync (the rule itself: ``aggregator.sync.budget``)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from providers.base import BankAdapter

from ..models import Connection, SyncRun
from . import budget

__all__ = ["BUDGETED_TRIGGERS", "BudgetSpent", "budget_spend", "unattended_budget"]

# Triggers that must stay within a bank's unattended-access budget (the rest are a person's explicit request;
# unless the person is present — a PSU IP address — they are still counted, and the bank may refuse them with a
# 429).
BUDGETED_TRIGGERS = frozenset(budget.UNATTENDED_TRIGGERS)


class BudgetSpent(Exception):
    """A resumed run would have to re-read a counted page and the budget has nothing left for it."""


def unattended_budget(adapter: BankAdapter) -> bool:
    """Whether this sync's calls count against the bank's unattended budget (a budget, and no user present)."""
    return budget.syncs_per_day(adapter) is not None and not adapter.psu_ip_address


def budget_spend(connection: Connection, adapter: BankAdapter, sync_run: SyncRun, *, again: bool = False) -> bool:
    """Record the run's attempt at a budgeted bank (once per run unless ``again``: the run re-reads a counted page);
    False (nothing recorded) when a budgeted trigger has none left. Attended runs (user present) are free."""
    if not unattended_budget(adapter):
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
