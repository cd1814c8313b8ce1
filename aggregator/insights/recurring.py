"""Recurring streams from an account's booked history: group by counterparty and direction, read the typical
gap between occurrences, keep groups whose gaps and amounts are regular, predict the next date.

Frequencies: weekly (7 days), biweekly (14), semi_monthly (two fixed days a month), monthly, annually.
Status: ``early_detection`` until the stream has 3 regular occurrences (2 for annual), then ``mature``;
``tombstoned`` (and not active) once an expected occurrence is missed by more than the frequency's grace.
"""

from __future__ import annotations

import calendar
import itertools
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

__all__ = [
    "FREQUENCIES",
    "STATUSES",
    "StreamInput",
    "StreamResult",
    "detect_streams",
    "is_overdue",
    "next_date",
]

FREQUENCIES = ("weekly", "biweekly", "semi_monthly", "monthly", "annually")
STATUSES = ("early_detection", "mature", "tombstoned")
# frequency → (nominal gap, tolerance on a gap, grace after the predicted date before the stream is tombstoned)
_SPEC: dict[str, tuple[int, int, int]] = {
    "weekly": (7, 1, 3),
    "biweekly": (14, 2, 4),
    "semi_monthly": (15, 4, 5),
    "monthly": (30, 4, 7),
    "annually": (365, 12, 21),
}
# internal moves, cash and card repayments are not streams
_EXCLUDED = ("transfer_out.withdrawal", "transfer_in.deposit", "loan_payments.credit_card_payment")
_PERSONAL = ("transfer_out.account_transfer", "transfer_in.account_transfer")  # money between people


@dataclass(frozen=True)
class StreamInput:
    key: object  # the caller's handle of the transaction
    booking_date: date
    amount: Decimal
    counterparty_key: str
    counterparty_name: str
    description: str
    category: str  # detailed
    own_account: bool = False  # a transfer between the holder's own accounts


@dataclass(frozen=True)
class StreamResult:
    stream_key: str  # counterparty key + direction: stable across runs
    direction: str  # inflow | outflow
    counterparty_key: str
    counterparty_name: str
    description: str
    category: str
    frequency: str
    average_amount: Decimal
    last_amount: Decimal
    first_date: date
    last_date: date
    predicted_next_date: date
    status: str
    is_active: bool
    transaction_keys: tuple[object, ...]
    occurrences: int


def _add_months(d: date, months: int, day: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def next_date(frequency: str, dates: Sequence[date]) -> date:
    """The predicted next occurrence after ``dates[-1]`` (monthly: the usual day of the month, moved to the
    Friday before when it falls on a weekend, as salaries and bills are)."""
    last = dates[-1]
    if frequency in ("weekly", "biweekly"):
        return last + timedelta(days=_SPEC[frequency][0])
    if frequency == "annually":
        return _add_months(last, 12, last.day)
    if frequency == "semi_monthly":
        return _next_semi_monthly(dates)
    day = round(statistics.median(d.day for d in dates[-6:]))
    candidate = _add_months(last, 1, day)
    if candidate - last < timedelta(days=20):
        candidate = _add_months(last, 2, day)
    if candidate.weekday() >= 5:
        candidate -= timedelta(days=candidate.weekday() - 4)
    return candidate


def is_overdue(frequency: str, predicted_next_date: date, today: date) -> bool:
    """True once ``today`` is past the predicted date by more than the frequency's grace: the stream missed an
    occurrence and is tombstoned. One rule for the detection and for the periodic review of stored streams."""
    return today > predicted_next_date + timedelta(days=_SPEC[frequency][2])


def _month_day(d: date) -> int:
    """The day of the month, the last few days counted as 31 (a "last day of the month" payment is one day)."""
    length = calendar.monthrange(d.year, d.month)[1]
    return 31 - (length - d.day) if d.day >= 26 else d.day


def _next_semi_monthly(dates: Sequence[date]) -> date:
    """The next of the stream's two usual days of the month (1st and 15th, 15th and last …) after the last date,
    moved to the Friday before a weekend."""
    recent = list(dates[-6:])
    slots = sorted({round(statistics.median(_month_day(d) for d in recent[i::2])) for i in (0, 1)})
    last = dates[-1]
    for months in (0, 1, 2):
        for day in slots:
            candidate = _add_months(last, months, day)
            if candidate - last >= timedelta(days=8):
                while candidate.weekday() >= 5:
                    candidate -= timedelta(days=1)
                return candidate
    return last + timedelta(days=15)  # pragma: no cover - two slots always give a date within two months


def _frequency(gaps: list[int]) -> str | None:
    median = statistics.median(gaps)
    if 11 <= median <= 19:
        # every 14 days to the day (the same weekday) is biweekly; two fixed days a month drift between 12 and 19
        exact = sum(g == 14 for g in gaps) / len(gaps)
        return "biweekly" if exact >= 0.75 else "semi_monthly"
    for name, (nominal, tolerance, _grace) in _SPEC.items():
        if abs(median - nominal) <= tolerance + (2 if name == "monthly" else 0):
            return name
    return None


def _regular(gaps: list[int], frequency: str) -> list[bool]:
    nominal, tolerance, _ = _SPEC[frequency]
    if frequency == "monthly":
        return [27 - tolerance <= g <= 31 + tolerance for g in gaps]
    return [abs(g - nominal) <= tolerance for g in gaps]


def detect_streams(items: Sequence[StreamInput], *, today: date) -> list[StreamResult]:
    """The recurring streams among one account's booked transactions (in any order)."""
    groups: dict[tuple[str, str], list[StreamInput]] = defaultdict(list)
    for it in items:
        if not it.counterparty_key or it.own_account or it.category in _EXCLUDED or it.amount == 0:
            continue
        groups[(it.counterparty_key, "inflow" if it.amount > 0 else "outflow")].append(it)
    out = []
    for (cp_key, direction), rows in groups.items():
        rows.sort(key=lambda r: (r.booking_date, str(r.key)))
        # one occurrence per day (two charges on a day are a duplicate, not a faster stream)
        per_day: dict[date, StreamInput] = {}
        for r in rows:
            per_day.setdefault(r.booking_date, r)
        days = sorted(per_day)
        if len(days) < 2:
            continue
        gaps = [(b - a).days for a, b in itertools.pairwise(days)]
        frequency = _frequency(gaps)
        if frequency is None:
            continue
        if frequency in ("weekly", "biweekly") and len(days) < 4:
            continue  # two or three card payments a week apart happen by chance; bills are not that fast
        if frequency == "semi_monthly" and len(days) < 3:
            continue  # two payments a fortnight apart: chance until a third keeps the two days
        if frequency == "annually" and (len(rows) > len(days) or rows[-1].category in _PERSONAL):
            continue  # a yearly bill is one payment a day; a present to a friend each spring is not a stream
        regular = _regular(gaps, frequency)
        recent = regular[-6:]
        if sum(recent) / len(recent) < 0.75:
            continue
        amounts = [abs(per_day[d].amount) for d in days]
        mean = sum(amounts) / len(amounts)
        spread = statistics.pstdev([float(a) for a in amounts[-12:]]) / float(mean) if mean else 1.0
        if spread > 0.5:
            continue
        # the run of regular occurrences at the end: the stream as it is now
        run = 1
        for ok in reversed(regular):
            if not ok:
                break
            run += 1
        stream_days = days[-run:]
        predicted = next_date(frequency, stream_days)
        mature_at = 2 if frequency == "annually" else 3
        if is_overdue(frequency, predicted, today):
            status = "tombstoned"
        elif len(stream_days) >= mature_at:
            status = "mature"
        else:
            status = "early_detection"
        members = [r for r in rows if r.booking_date >= stream_days[0]]
        sign = Decimal(1) if direction == "inflow" else Decimal(-1)
        stream_amounts = [abs(per_day[d].amount) for d in stream_days]
        last = per_day[stream_days[-1]]
        out.append(
            StreamResult(
                stream_key=f"{cp_key}:{direction}",
                direction=direction,
                counterparty_key=cp_key,
                counterparty_name=last.counterparty_name,
                description=last.description,
                category=last.category,
                frequency=frequency,
                average_amount=(sign * sum(stream_amounts) / len(stream_amounts)).quantize(Decimal("0.01")),
                last_amount=last.amount,
                first_date=stream_days[0],
                last_date=stream_days[-1],
                predicted_next_date=predicted,
                status=status,
                is_active=status != "tombstoned",
                transaction_keys=tuple(r.key for r in members),
                occurrences=len(stream_days),
            )
        )
    return out
