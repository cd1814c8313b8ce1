"""Domain events → the ledger's outbox (subscribed in ``LedgerConfig.ready()``).

A logged event costs the publisher one INSERT in its own transaction; the sequencer task is asked to run once the
transaction commits (and the periodic sweep catches anything whose task was lost).
"""

from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction

from aggregator.domain_events import DomainEvent

from .services import ledger_event_enqueue, ledger_event_is_logged

__all__ = ["SEQUENCE_TASK", "ledger_on_domain_event"]

logger = logging.getLogger(__name__)

SEQUENCE_TASK = "aggregator.ledger.tasks.ledger_sequence_task"


def _kick() -> None:
    try:
        current_app.send_task(SEQUENCE_TASK, ignore_result=True)
    except Exception:  # the broker may be down: the periodic sweep appends the row later
        logger.warning("Could not send the ledger sequencer task; the sweep will append the event", exc_info=True)


def ledger_on_domain_event(event: DomainEvent) -> None:
    if not ledger_event_is_logged(event.name):
        return
    ledger_event_enqueue(event=event)
    transaction.on_commit(_kick)
