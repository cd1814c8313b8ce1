"""The rolling 24-hour window both unattended-access budgets are measured in — a bank's own (``budget``) and the
regulatory one (``unattended``) — and the sync triggers both of them (and the compliance clocks) hold back."""

from __future__ import annotations

from datetime import timedelta

from ..models import SyncRun

__all__ = ["DAY", "MARGIN", "UNATTENDED_TRIGGERS"]

DAY = timedelta(days=1)
# A little slack so our clock and the bank's never disagree about which side of the window a call falls.
MARGIN = timedelta(minutes=1)

# Syncs nobody asked for in person (the scheduler's, a third party's refresh without the user present).
UNATTENDED_TRIGGERS = frozenset({SyncRun.Trigger.SCHEDULED, SyncRun.Trigger.API})
