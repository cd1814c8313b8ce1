"""Timing of the sandbox data layer for the ``bulk`` user (≥100k transactions on one account).

Run: ``python -m providers.sandbox.data.bench`` (or wire ``run`` into ``benchmarks/``). Prints, per bank, the
cold generation time of the whole history, the cost of a repeat call, of reading a page of 500 (first and
second time), of balances and of a one-day changes feed — medians over a few runs. ``now`` is fixed so runs
are comparable, and the data package needs neither the sandbox clock nor Django: nothing to set up.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from . import BANKS, account_balances, account_transactions, transaction_changes_since, user_accounts
from .timeline import clear_cache

__all__ = ["run"]

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _median(fn: Callable[[], object], repeat: int, setup: Callable[[], object] | None = None) -> float:
    samples = []
    for _ in range(repeat):
        if setup:
            setup()
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def run(argv: list[str]) -> None:
    repeat = 5 if "--quick" not in argv else 2
    print(f"bulk user, now={NOW.isoformat()}, medians of {repeat} runs")
    for bank in BANKS:
        (account,) = user_accounts(bank, "bulk")

        def txs(account_id: str = account.id, bank: str = bank) -> object:
            return account_transactions(bank, "bulk", account_id, now=NOW)

        cold = _median(txs, repeat, setup=clear_cache)
        cpu_samples = []
        for _ in range(repeat):
            clear_cache()
            started_cpu = time.process_time()
            txs()
            cpu_samples.append(time.process_time() - started_cpu)
        cpu = statistics.median(cpu_samples)
        view = txs()
        n = len(view)
        warm = _median(txs, 50)
        mid = n // 2
        clear_cache()
        view = txs()
        started = time.perf_counter()
        view[mid : mid + 500]
        page_cold = time.perf_counter() - started
        page_warm = _median(lambda view=view, mid=mid: view[mid : mid + 500], 20)
        balances = _median(lambda a=account.id, b=bank: account_balances(b, "bulk", a, now=NOW), 50)
        window = _median(
            lambda a=account.id, b=bank: account_transactions(
                b, "bulk", a, now=NOW, booked_from=NOW - timedelta(days=30), booked_to=NOW - timedelta(days=29)
            ),
            50,
        )
        changes = _median(
            lambda b=bank: list(transaction_changes_since(b, "bulk", since=NOW - timedelta(days=1), now=NOW)[0]),
            20,
        )
        print(
            f"  {bank:8s} {n:>7,} txs: generate {cold * 1000:7.1f} ms wall, {cpu * 1000:6.1f} ms CPU"
            f" ({cpu / n * 1e8:.0f} ms CPU per 100k)"
            f" | repeat call {warm * 1e6:6.1f} µs | page of 500 {page_cold * 1000:5.2f} ms cold,"
            f" {page_warm * 1000:5.2f} ms warm | balances {balances * 1e6:6.1f} µs"
            f" | 1-day window {window * 1e6:6.1f} µs | 1-day changes {changes * 1000:5.2f} ms"
        )


if __name__ == "__main__":
    run(sys.argv[1:])
