"""Instrumentation of one sync run: its log context, the bank label of its calls, and its metrics at the end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from providers.metrics import bank_context

from ..models import Connection, SyncRun
from .context import log_context_bound
from .metrics import SYNC_ROWS, SYNC_SECONDS, SYNCS

__all__ = ["sync_observe", "sync_observed"]


@contextmanager
def sync_observed(*, connection: Connection, sync_run: SyncRun) -> Iterator[None]:
    """Around one run: logs carry ``connection_id``/``sync_run_id`` (public ids), bank calls the bank's slug; the
    run's outcome, duration and row counts are recorded when it ends, whether it returned or raised."""
    bank = connection.institution.slug
    with log_context_bound(connection_id=connection.public_id, sync_run_id=sync_run.public_id), bank_context(bank):
        try:
            yield
        finally:
            sync_observe(bank=bank, sync_run=sync_run)


def sync_observe(*, bank: str, sync_run: SyncRun) -> None:
    outcome = sync_run.outcome
    if outcome in (SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING):
        outcome = "error"  # ended without recording an outcome (the database itself failed)
    SYNCS.labels(bank=bank, outcome=outcome).inc()
    if sync_run.started_at and sync_run.finished_at:
        seconds = (sync_run.finished_at - sync_run.started_at).total_seconds()
        SYNC_SECONDS.labels(bank=bank, outcome=outcome).observe(max(seconds, 0.0))
    if outcome == SyncRun.Outcome.SUCCEEDED:
        for change, count in (
            ("added", sync_run.added_count),
            ("modified", sync_run.modified_count),
            ("removed", sync_run.removed_count),
        ):
            if count:
                SYNC_ROWS.labels(bank=bank, change=change).inc(count)
