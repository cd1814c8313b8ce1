"""Risk signals, each with a score in [0, 1], a reason a person can read and the transactions behind it.

Per transaction (:func:`transaction_signals`, over one account's booked history, oldest first):

* ``duplicate_charge`` — the same counterparty and amount again within 15 minutes;
* ``card_testing`` — 4 or more tiny (< 2.00) card payments to one counterparty within 30 minutes;
* ``amount_outlier`` — far above what this counterparty (or, for a new one, this category) usually costs
  (robust z-score on median and MAD of the earlier amounts);
* ``new_payee`` — money out to a person or company never paid before from this account, large against the
  account's usual transfers;
* ``velocity`` — many more transactions in an hour than the account's usual rate (Poisson tail).

Per account (:func:`balance_risk`, :func:`income_stability`): the probability the balance goes below zero before
the next inflow, and how steady the income streams are.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

__all__ = [
    "ANOMALY_SIGNALS",
    "SIGNAL_KINDS",
    "AccountSignal",
    "SignalInput",
    "TransactionSignal",
    "balance_risk",
    "income_stability",
    "transaction_signals",
]

ANOMALY_SIGNALS = ("duplicate_charge", "card_testing", "amount_outlier", "new_payee")
SIGNAL_KINDS = (*ANOMALY_SIGNALS, "velocity", "balance_risk", "income_stability")
DUPLICATE_WINDOW = timedelta(minutes=15)
TESTING_WINDOW = timedelta(minutes=30)
TINY = Decimal("2.00")


@dataclass(frozen=True)
class SignalInput:
    key: object
    at: datetime  # booked_at (or the booking date at midnight)
    amount: Decimal
    counterparty_key: str
    counterparty_type: str
    category: str  # detailed
    is_card: bool = False


@dataclass(frozen=True)
class TransactionSignal:
    kind: str
    key: object  # the transaction the signal is about
    score: float
    reason: str
    related: tuple[object, ...] = field(default_factory=tuple)  # every transaction behind it, itself included


@dataclass(frozen=True)
class AccountSignal:
    kind: str
    score: float
    reason: str
    related: tuple[object, ...] = ()
    details: dict[str, object] = field(default_factory=dict)


def _money(value: Decimal) -> str:
    return f"{abs(value):.2f}"


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


def transaction_signals(items: Sequence[SignalInput]) -> list[TransactionSignal]:
    """Signals over one account's booked history (any order; evaluated oldest first, each transaction against
    what came before it)."""
    rows = sorted(items, key=lambda r: (r.at, str(r.key)))
    out: list[TransactionSignal] = []
    # earlier amounts out per counterparty and per category, as floats: a robust z-score needs no cents, and
    # sorting floats for the medians is several times faster than sorting Decimals (this runs after every sync)
    history: dict[str, list[float]] = defaultdict(list)
    by_category: dict[str, list[float]] = defaultdict(list)
    recent: deque[SignalInput] = deque()
    paid: set[str] = set()
    transfers: list[Decimal] = []
    tiny: dict[str, deque[SignalInput]] = defaultdict(deque)
    flagged_testing: set[object] = set()
    # the usual rate in the hours the account is used at all (nobody pays at 4 a.m.: a rate over 24 hours makes
    # every busy afternoon of a busy account a "burst")
    per_hour = Counter(int(r.at.timestamp()) // 3600 for r in rows)
    hourly = len(rows) / (len(per_hour) or 1)
    # and what a busy hour of this account looks like (its 99th percentile): a burst must also be far above that
    counts = sorted(per_hour.values())
    busy = counts[int(0.99 * (len(counts) - 1))] if counts else 0
    hour: deque[SignalInput] = deque()
    burst_until = None  # one velocity signal per burst: none again until the hour that raised it has passed
    for r in rows:
        out_amount = -r.amount if r.amount < 0 else Decimal(0)
        # duplicate charge
        while recent and r.at - recent[0].at > DUPLICATE_WINDOW:
            recent.popleft()
        twin = next(
            (p for p in recent if p.counterparty_key == r.counterparty_key and p.amount == r.amount and r.amount < 0),
            None,
        )
        if twin is not None and r.counterparty_key and abs(r.amount) >= TINY:
            minutes = max(1, round((r.at - twin.at).total_seconds() / 60))
            out.append(
                TransactionSignal(
                    "duplicate_charge",
                    r.key,
                    0.95,
                    f"Charged {_money(r.amount)} again by the same merchant {minutes} minute(s) after an identical "
                    "charge.",
                    (twin.key, r.key),
                )
            )
        recent.append(r)
        # card testing
        if r.amount < 0 and abs(r.amount) < TINY and r.counterparty_key:
            window = tiny[r.counterparty_key]
            while window and r.at - window[0].at > TESTING_WINDOW:
                window.popleft()
            window.append(r)
            if len(window) >= 4:
                keys = tuple(w.key for w in window)
                for w in window:
                    if w.key not in flagged_testing:
                        flagged_testing.add(w.key)
                        out.append(
                            TransactionSignal(
                                "card_testing",
                                w.key,
                                min(0.99, 0.6 + 0.08 * len(window)),
                                f"{len(window)} payments under {TINY} to the same merchant within 30 minutes: a "
                                "pattern used to test stolen card numbers.",
                                keys,
                            )
                        )
        # amount outlier
        if out_amount > 0:
            past = history[r.counterparty_key] if r.counterparty_key else []
            basis, what = (past, "this merchant") if len(past) >= 4 else (by_category[r.category], "this category")
            if len(basis) >= 8 or (basis is past and len(basis) >= 4):
                sample = basis[-50:]
                amount = float(out_amount)
                high = max(sample)
                # above every earlier amount first (cheap, and rare): only then the medians of the robust z-score
                z = _robust_z(amount, sample) if amount > high else 0.0
                if z > 4:
                    median = statistics.median(sample)
                    ratio = amount / median if median else 0.0
                    out.append(
                        TransactionSignal(
                            "amount_outlier",
                            r.key,
                            round(_sigmoid((z - 6) / 2) * min(1.0, amount / high - 0.5), 4),
                            f"{_money(r.amount)} is {ratio:.1f}× the usual {median:.2f} for {what}.",
                            (r.key,),
                        )
                    )
            if r.counterparty_key:
                history[r.counterparty_key].append(float(out_amount))
            by_category[r.category].append(float(out_amount))
        # new payee
        is_transfer = r.category.startswith("transfer_out.") and r.category != "transfer_out.withdrawal"
        if out_amount > 0 and is_transfer and r.counterparty_key and r.counterparty_type in ("person", "merchant"):
            if r.counterparty_key not in paid:
                usual = statistics.median(transfers) if transfers else Decimal("100")
                size = float(out_amount / max(usual, Decimal("1")))
                score = _sigmoid(math.log(max(size, 1e-6)) * 1.5 - 2.0) if len(paid) >= 2 else 0.3 * _sigmoid(size - 5)
                if score >= 0.05:
                    out.append(
                        TransactionSignal(
                            "new_payee",
                            r.key,
                            round(score, 4),
                            f"First payment from this account to this payee: {_money(r.amount)}, "
                            f"{size:.1f}× the account's usual transfer.",
                            (r.key,),
                        )
                    )
            transfers.append(out_amount)
        if r.counterparty_key and out_amount > 0:
            paid.add(r.counterparty_key)
        # velocity
        while hour and r.at - hour[0].at > timedelta(hours=1):
            hour.popleft()
        hour.append(r)
        n = len(hour)
        expected = max(hourly, 0.05)
        if n >= 5 and n > max(4 * expected, 1.5 * busy) and (burst_until is None or r.at > burst_until):
            tail = _poisson_tail(n, expected)
            if tail < 1e-4:
                burst_until = r.at + timedelta(hours=1)
                out.append(
                    TransactionSignal(
                        "velocity",
                        r.key,
                        round(min(0.99, -math.log10(max(tail, 1e-300)) / 12), 4),
                        f"{n} transactions within an hour; this account usually has {expected:.2f} an hour.",
                        tuple(h.key for h in hour),
                    )
                )
    return out


def _robust_z(amount: float, sample: list[float]) -> float:
    """How far ``amount`` is above the sample's median, in robust units (scaled MAD, plus a floor)."""
    median = statistics.median(sample)
    mad = statistics.median([abs(x - median) for x in sample])
    return (amount - median) / (1.4826 * mad + median * 0.05 + 1.0)


def _poisson_tail(n: int, mu: float) -> float:
    """P(X >= n) for X ~ Poisson(mu)."""
    term = math.exp(-mu)
    cdf = 0.0
    for k in range(n):
        cdf += term
        term *= mu / (k + 1)
    return max(0.0, 1.0 - cdf)


@dataclass(frozen=True)
class FlowInput:
    """A recurring stream as the balance risk sees it."""

    direction: str  # inflow | outflow
    average_amount: Decimal  # signed
    predicted_next_date: date
    frequency_days: int
    is_active: bool


def balance_risk(
    *,
    balance: Decimal,
    today: date,
    streams: Sequence[FlowInput],
    daily_spend: Sequence[Decimal],
) -> AccountSignal:
    """P(balance < 0 before the next inflow): the balance minus the recurring outflows due before the next
    inflow minus discretionary spending (normal approximation from the last 90 days' daily spending)."""
    inflows = [s for s in streams if s.is_active and s.direction == "inflow" and s.predicted_next_date >= today]
    horizon = min((s.predicted_next_date for s in inflows), default=today + timedelta(days=30))
    days = max(1, (horizon - today).days)
    due = sum(
        (
            -s.average_amount * max(1, 1 + ((horizon - s.predicted_next_date).days // max(1, s.frequency_days)))
            for s in streams
            if s.is_active and s.direction == "outflow" and today <= s.predicted_next_date <= horizon
        ),
        Decimal(0),
    )
    spend = [float(x) for x in daily_spend] or [0.0]
    mean, sd = statistics.fmean(spend), statistics.pstdev(spend) if len(spend) > 1 else 0.0
    expected_left = float(balance - due) - mean * days
    sigma = max(sd * math.sqrt(days), 1.0)
    probability = 0.5 * math.erfc(expected_left / (sigma * math.sqrt(2)))
    return AccountSignal(
        "balance_risk",
        round(probability, 4),
        f"{probability:.0%} chance the balance goes below zero in the {days} day(s) before the next expected "
        f"inflow: balance {balance:.2f}, recurring payments due {due:.2f}, usual spending {mean:.2f} a day.",
        details={"horizon": horizon.isoformat(), "recurring_due": f"{due:.2f}", "daily_spend": f"{mean:.2f}"},
    )


def income_stability(*, monthly_income: Sequence[Decimal], streams: int) -> AccountSignal:
    """How steady the income is: 1 - coefficient of variation of the last months' income (0 with no income)."""
    values = [float(x) for x in monthly_income]
    if not values or not any(values) or streams == 0:
        return AccountSignal("income_stability", 0.0, "No regular income seen on this account.")
    mean = statistics.fmean(values)
    cv = statistics.pstdev(values) / mean if mean else 1.0
    score = round(max(0.0, 1.0 - cv), 4)
    return AccountSignal(
        "income_stability",
        score,
        f"Income over the last {len(values)} month(s) averages {mean:.2f} a month from {streams} regular "
        f"source(s), varying by {cv:.0%}.",
        details={"months": len(values), "average_monthly": f"{mean:.2f}", "variation": round(cv, 4)},
    )
