"""``sync.completed`` → enrich the synced connection in a follow-up task (the sync never waits for it)."""

from __future__ import annotations

from celery import current_app
from django.db import transaction

from aggregator.domain_events import DomainEvent

from .conf import insights_settings

__all__ = ["ENRICH_TASK", "insights_on_domain_event"]

ENRICH_TASK = "insights.enrich_connection"


def insights_on_domain_event(event: DomainEvent) -> None:
    if event.name != "sync.completed" or not insights_settings.ENRICH_AFTER_SYNC:
        return
    if event.data.get("outcome") != "succeeded" or not any((event.data.get("counts") or {}).values()):
        return
    connection_id = event.data.get("connection_id")
    transaction.on_commit(lambda: current_app.send_task(ENRICH_TASK, kwargs={"connection_id": connection_id}))
