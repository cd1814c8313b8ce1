"""Recurring streams (status over the sandbox clock) and each risk signal's positive and negative case."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from aggregator.insights.recurring import StreamInput, detect_streams
from aggregator.insights.signals import FlowInput, SignalInput, balance_risk, income_stability, transaction_signals


def _monthly(n: int, *, start: date = date(2025, 1, 25), amount: str = "-10.99", key: str = "netflix") -> list:
    out = []
    for i in range(n):
        y, m = divmod(start.month - 1 + i, 12)
        out.append(
            StreamInput(
                f"{key}{i}",
                date(start.year + y, m + 1, start.day),
                Decimal(amount),
                key,
                key.title(),
                "NETFLIX.COM",
                "entertainment.tv_and_movies",
            )
        )
    return out


def test_two_monthly_payments_are_an_early_detection_stream():
    (s,) = detect_streams(_monthly(2), today=date(2025, 3, 1))
    assert (s.frequency, s.status, s.is_active) == ("monthly", "early_detection", True)
    assert s.predicted_next_date == date(2025, 3, 25)


def test_three_regular_payments_make_a_mature_stream():
    (s,) = detect_streams(_monthly(3), today=date(2025, 4, 1))
    assert s.status == "mature"
    assert (s.first_date, s.last_date, s.average_amount, s.last_amount) == (
        date(2025, 1, 25),
        date(2025, 3, 25),
        Decimal("-10.99"),
        Decimal("-10.99"),
    )
    assert s.transaction_keys == ("netflix0", "netflix1", "netflix2")


def test_a_missed_payment_tombstones_the_stream_as_the_clock_moves_on():
    items = _monthly(4)
    assert detect_streams(items, today=date(2025, 5, 1))[0].status == "mature"
    assert detect_streams(items, today=date(2025, 5, 28))[0].status == "mature"  # within the grace
    late = detect_streams(items, today=date(2025, 5, 26) + timedelta(days=8))[0]
    assert (late.status, late.is_active) == ("tombstoned", False)


def test_weekly_and_annual_frequencies():
    weekly = [
        StreamInput(i, date(2025, 1, 6) + timedelta(days=7 * i), Decimal("-25"), "cleaner", "Cleaner", "X", "c")
        for i in range(5)
    ]
    annual = [StreamInput(i, date(2023 + i, 3, 1), Decimal("-89"), "aa", "AA", "X", "c") for i in range(2)]
    assert detect_streams(weekly, today=date(2025, 2, 5))[0].frequency == "weekly"
    (a,) = detect_streams(annual, today=date(2024, 6, 1))
    assert (a.frequency, a.status, a.predicted_next_date) == ("annually", "mature", date(2025, 3, 1))


def test_irregular_payments_and_own_account_transfers_are_not_streams():
    irregular = [
        StreamInput(i, date(2025, 1, 1) + timedelta(days=d), Decimal("-20"), "tesco", "Tesco", "T", "g")
        for i, d in enumerate([0, 3, 17, 19, 45, 52])
    ]
    own = [
        StreamInput(
            i, s.booking_date, Decimal("250"), "me", "Me", "T", "transfer_in.account_transfer", own_account=True
        )
        for i, s in enumerate(_monthly(4))
    ]
    assert detect_streams(irregular + own, today=date(2025, 3, 1)) == []


T0 = datetime(2025, 3, 3, 12, tzinfo=UTC)


def _tx(key, minutes, amount, cp="tesco", kind="merchant", cat="food_and_drink.groceries"):  # type: ignore[no-untyped-def]
    return SignalInput(key, T0 + timedelta(minutes=minutes), Decimal(amount), cp, kind, cat, is_card=True)


def _kinds(items, kind):  # type: ignore[no-untyped-def]
    return [s for s in transaction_signals(items) if s.kind == kind]


def test_duplicate_charge_positive_and_negative():
    (dup,) = _kinds([_tx("a", 0, "-23.40"), _tx("b", 4, "-23.40")], "duplicate_charge")
    assert (dup.key, dup.related, dup.score) == ("b", ("a", "b"), 0.95)
    assert "again" in dup.reason
    assert _kinds([_tx("a", 0, "-23.40"), _tx("b", 60, "-23.40")], "duplicate_charge") == []
    assert _kinds([_tx("a", 0, "-23.40"), _tx("b", 4, "-23.41")], "duplicate_charge") == []


def test_card_testing_positive_and_negative():
    burst = [_tx(i, i, "-0.99", cp="pixelgift") for i in range(5)]
    found = _kinds(burst, "card_testing")
    assert {s.key for s in found} == set(range(5))
    assert all(s.score > 0.8 for s in found)
    spread = [_tx(i, i * 60, "-0.99", cp="pixelgift") for i in range(5)]
    assert _kinds(spread, "card_testing") == []


def test_amount_outlier_positive_and_negative():
    usual = [_tx(i, i * 1440, f"-{20 + i}.00") for i in range(8)]
    (out,) = _kinds([*usual, _tx("big", 9 * 1440, "-480.00")], "amount_outlier")
    assert out.key == "big" and out.score > 0.5 and "usual" in out.reason
    assert _kinds([*usual, _tx("ok", 9 * 1440, "-27.00")], "amount_outlier") == []


def test_new_payee_positive_and_negative():
    friends = [
        _tx(i, i * 1440, "-40.00", cp=f"friend{i % 3}", kind="person", cat="transfer_out.account_transfer")
        for i in range(9)
    ]
    found = _kinds(
        [
            *friends,
            _tx("x", 20 * 1440, "-1900.00", cp="quickinvest", kind="merchant", cat="transfer_out.account_transfer"),
        ],
        "new_payee",
    )
    (new,) = [s for s in found if s.key == "x"]
    assert new.score > 0.8 and "First payment" in new.reason
    assert all(s.score < 0.3 for s in found if s.key != "x")  # small first transfers to friends barely count
    again = _tx("y", 21 * 1440, "-40.00", cp="friend1", kind="person", cat="transfer_out.account_transfer")
    assert [s for s in _kinds([*friends, again], "new_payee") if s.key == "y"] == []


def test_velocity_positive_and_negative():
    calm = [_tx(i, i * 720, "-5.00", cp=f"m{i}") for i in range(60)]
    burst = [_tx(f"b{i}", 60 * 720 + i * 5, "-5.00", cp=f"n{i}") for i in range(9)]
    assert _kinds(calm, "velocity") == []
    assert _kinds(calm + burst, "velocity")


def test_balance_risk_is_high_when_bills_come_before_payday_and_low_otherwise():
    today = date(2025, 3, 10)
    rent = FlowInput("outflow", Decimal("-1200"), date(2025, 3, 15), 30, True)
    salary = FlowInput("inflow", Decimal("3000"), date(2025, 3, 25), 30, True)
    spend = [Decimal("30")] * 60 + [Decimal("60")] * 30
    risky = balance_risk(balance=Decimal("900"), today=today, streams=[rent, salary], daily_spend=spend)
    safe = balance_risk(balance=Decimal("5000"), today=today, streams=[rent, salary], daily_spend=spend)
    assert risky.score > 0.9 and safe.score < 0.05
    assert "below zero" in risky.reason


def test_income_stability_positive_and_negative():
    steady = income_stability(monthly_income=[Decimal("3000")] * 6, streams=1)
    shaky = income_stability(monthly_income=[Decimal(x) for x in ("3000", "0", "4500", "200", "3000", "0")], streams=1)
    none = income_stability(monthly_income=[], streams=0)
    assert steady.score == pytest.approx(1.0)
    assert shaky.score < 0.3
    assert none.score == 0.0


def test_a_burst_raises_one_velocity_signal_not_one_per_transaction():
    calm = [_tx(i, i * 720, "-5.00", cp=f"m{i}") for i in range(60)]
    burst = [_tx(f"b{i}", 60 * 720 + i * 5, "-5.00", cp=f"n{i}") for i in range(9)]
    (signal,) = _kinds(calm + burst, "velocity")
    assert len(signal.related) >= 5


def test_a_busy_accounts_usual_busy_hour_is_not_a_velocity_burst():
    # 30 days, 20 payments an hour in 8 busy hours a day and one payment in each quiet hour
    busy = [
        _tx(f"d{d}h{h}n{n}", d * 1440 + h * 60 + n * 3, "-5.00", cp=f"m{n}")
        for d in range(30)
        for h in range(8, 16)
        for n in range(20)
    ]
    quiet = [_tx(f"d{d}q{h}", d * 1440 + h * 60 + 30, "-5.00", cp="q") for d in range(30) for h in range(16, 23)]
    assert _kinds(busy + quiet, "velocity") == []


def _weekdays(start: date, days: list[int], amount: str, key: str) -> list:
    return [
        StreamInput(f"{key}{i}", start + timedelta(days=d), Decimal(amount), key, key.title(), key.upper(), "x.y")
        for i, d in enumerate(days)
    ]


def test_payments_every_fourteen_days_are_biweekly():
    items = _weekdays(date(2025, 1, 3), [0, 14, 28, 42, 56, 70], "181.20", "dwp")
    (s,) = detect_streams(items, today=date(2025, 3, 20))
    assert (s.frequency, s.predicted_next_date) == ("biweekly", date(2025, 3, 28))


def test_payments_on_the_first_and_fifteenth_are_semi_monthly():
    dates = [date(2025, m, d) for m in (1, 2, 3, 4) for d in (1, 15)]
    items = [StreamInput(f"z{i}", d, Decimal("-112.50"), "zopa", "Zopa", "ZOPA", "x.y") for i, d in enumerate(dates)]
    (s,) = detect_streams(items, today=date(2025, 4, 20))
    assert (s.frequency, s.status) == ("semi_monthly", "mature")
    assert s.predicted_next_date == date(2025, 5, 1)


def test_weekly_payments_are_weekly_and_tombstoned_a_few_days_after_a_missed_week():
    items = _weekdays(date(2025, 1, 6), [0, 7, 14, 21, 28], "-145.00", "nursery")
    (s,) = detect_streams(items, today=date(2025, 2, 10))
    assert (s.frequency, s.status) == ("weekly", "mature")
    (late,) = detect_streams(items, today=date(2025, 2, 14))
    assert late.status == "tombstoned" and not late.is_active


def test_two_yearly_payments_make_a_mature_annual_stream():
    items = _weekdays(date(2024, 3, 4), [0, 365], "-169.50", "tvlicence")
    (s,) = detect_streams(items, today=date(2025, 4, 1))
    assert (s.frequency, s.status, s.predicted_next_date) == ("annually", "mature", date(2026, 3, 4))


def test_two_payments_a_fortnight_apart_are_not_yet_a_semi_monthly_stream():
    items = _weekdays(date(2025, 1, 1), [0, 15], "-112.50", "zopa")
    assert detect_streams(items, today=date(2025, 1, 20)) == []


def test_a_yearly_present_to_a_friend_is_not_an_annual_stream():
    items = [
        StreamInput(
            f"p{i}", d, Decimal("-50.00"), "olivia", "Olivia", "OLIVIA BIRTHDAY FPS", "transfer_out.account_transfer"
        )
        for i, d in enumerate((date(2024, 4, 1), date(2025, 4, 3)))
    ]
    assert detect_streams(items, today=date(2025, 4, 10)) == []
