"""The rolling 24-hour window both unattended-access budgets are measured in: a bank's own (``budget``) and the
regulatory one (``unattended``)."""

from __future__ import annotations

from datetime import timedelta

__all__ = ["DAY", "MARGIN"]

DAY = timedelta(days=1)
# A little slack so our clock and the bank's never disagree about which side of the window a call falls.
MARGIN = timedelta(minutes=1)
