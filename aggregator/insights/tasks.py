"""Celery task of the insights: enrich a connection's accounts after a sync (thin: ids in, one service)."""

from __future__ import annotations

from celery import shared_task

from aggregator.models import Account

from .services import insights_refresh_accounts

__all__ = ["insights_enrich_connection_task"]


@shared_task(name="insights.enrich_connection", acks_late=True, ignore_result=True)
def insights_enrich_connection_task(connection_id: str) -> dict[str, int]:
    ids = list(Account.objects.filter(connection__public_id=connection_id).values_list("pk", flat=True))
    result = insights_refresh_accounts(account_ids=ids)
    return {"enriched": result.enriched, "streams": result.streams, "signals": result.signals}
