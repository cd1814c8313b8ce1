"""Celery tasks of the ledger: the sequencer (after each logged event's commit) and the periodic sweep."""

from __future__ import annotations

from celery import shared_task

from .services import ledger_append_pending, ledger_checkpoint_if_due

__all__ = ["ledger_sequence_task", "ledger_sweep_task"]

# One run appends at most this many batches, then lets other tasks have the worker (the sweep resumes).
_MAX_BATCHES = 50


@shared_task(name="aggregator.ledger.tasks.ledger_sequence_task", acks_late=True, ignore_result=True)
def ledger_sequence_task() -> int:
    appended = 0
    for _ in range(_MAX_BATCHES):
        done = ledger_append_pending()
        appended += done
        if not done:
            break
    return appended


@shared_task(name="aggregator.ledger.tasks.ledger_sweep_task", acks_late=True, ignore_result=True)
def ledger_sweep_task() -> int:
    """Append whatever a lost task or a dead worker left in the outbox; sign a checkpoint when one is due."""
    appended = ledger_sequence_task()
    ledger_checkpoint_if_due()
    return appended
