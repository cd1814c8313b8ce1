"""Recurring payments of every frequency for generated users: weekly, biweekly, semi-monthly and annual streams
(childcare, a second job's wages, benefits, cleaners, loan repayments, licences, insurance, dividends), beside
the monthly ones the generator always makes (salary, rent, bills, subscriptions).

Only plans that ask (``AccountPlan.schedules`` > 0: :func:`.labels.synthetic_plans`, never the fixtures' users)
get them; each of the region's ``schedules`` in ``fixtures/sandbox/merchants.json`` is chosen with that
probability, and its anchor (weekday, days of the month, month of the year) is fixed for the account's life by a
seeded RNG of its own, so the rest of a month's content is the same with or without them.

Dates: weekly and biweekly streams fall every 7 or 14 days from their anchor (always a weekday); semi-monthly
credits on the 15th and the last day (moved to the Friday before a weekend), debits on the 1st and the 15th
(moved to the Monday after); annual ones on a fixed day of a fixed month (moved to the Monday after).
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Callable
from datetime import date, timedelta

from .catalog import AccountPlan, history_start, region_data
from .palette import Template, rng_for

__all__ = ["SCHEDULED_CATEGORIES", "Schedule", "schedule_spec", "scheduled_events", "schedules_for"]

SCHEDULED_CATEGORIES = {"out": "bills", "in": "credits"}  # the bank's category text of these payments
_PERIOD = {"weekly": 7, "biweekly": 14}
DAY = 86_400

# (template, lo cents, hi cents, frequency, anchor: first date (weekly/biweekly) or (month, day) (annually))
Schedule = tuple[Template, int, int, str, object]


def _cents(value: str) -> int:
    whole, _, frac = value.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


@functools.cache
def schedule_spec(region: str, legal: str) -> dict | None:
    """The region's schedule whose counterparty (legal name, as the bank shows it) is ``legal``."""
    for spec in region_data(region).get("schedules", []):
        if spec["legal"] == legal:
            return spec
    return None


@functools.cache
def schedules_for(plan: AccountPlan) -> tuple[Schedule, ...]:
    if not plan.schedules:
        return ()
    rng = rng_for(plan.seed_key, "schedules")
    start = history_start().date()
    out: list[Schedule] = []
    for spec in region_data(plan.region).get("schedules", []):
        if rng.random() >= plan.schedules:
            continue
        tpl = (spec["descriptor"], "", SCHEDULED_CATEGORIES[spec["direction"]], spec["legal"], spec["code"])
        frequency = spec["frequency"]
        anchor: object = None
        if frequency in _PERIOD:
            first = start + timedelta(days=rng.randrange(_PERIOD[frequency]))
            while first.weekday() >= 5:
                first += timedelta(days=1)
            anchor = first
        elif frequency == "annually":
            anchor = (1 + rng.randrange(12), 1 + rng.randrange(28))
        sign = 1 if spec["direction"] == "in" else -1
        lo, hi = sorted((sign * _cents(spec["min"]), sign * _cents(spec["max"])), key=abs)
        out.append((tpl, lo, hi, frequency, anchor))
    return tuple(out)


def _forward(year: int, month: int, day: int) -> int:
    """The day, or the Monday after when it falls on a weekend (debits are collected on business days); within
    the month."""
    weekday = calendar.weekday(year, month, day)
    moved = day + (7 - weekday if weekday >= 5 else 0)
    return min(moved, calendar.monthrange(year, month)[1])


def _back(year: int, month: int, day: int) -> int:
    return day - max(0, calendar.weekday(year, month, day) - 4)


def _days(schedule: Schedule, year: int, month: int, ndays: int) -> list[int]:
    _tpl, lo, _hi, frequency, anchor = schedule
    if frequency in _PERIOD:
        assert isinstance(anchor, date)
        period = _PERIOD[frequency]
        first = date(year, month, 1).toordinal()
        return [
            d + 1
            for d in range(ndays)
            if first + d >= anchor.toordinal() and (first + d - anchor.toordinal()) % period == 0
        ]
    if frequency == "semi_monthly":
        if lo > 0:  # credits: the 15th and the last day, paid early before a weekend
            return [_back(year, month, 15), _back(year, month, ndays)]
        return [_forward(year, month, 1), _forward(year, month, 15)]
    if frequency == "annually":
        assert isinstance(anchor, tuple)
        return [_forward(year, month, anchor[1])] if month == anchor[0] else []
    return []


def scheduled_events(
    plan: AccountPlan, m: int, year: int, month: int, t0: int, ndays: int, direct: Callable[[int, int, Template], None]
) -> None:
    """Add month ``m``'s occurrences of the plan's schedules through ``direct(ts, cents, template)``."""
    schedules = schedules_for(plan)
    if not schedules:
        return
    rnd = rng_for(plan.seed_key, "schedules", m).random
    for schedule in schedules:
        tpl, lo, hi, _frequency, _anchor = schedule
        for day in _days(schedule, year, month, ndays):
            ts = t0 + (day - 1) * DAY + 6 * 3600 + int(rnd() * 3000)
            direct(ts, lo + int((hi - lo) * rnd()), tpl)
