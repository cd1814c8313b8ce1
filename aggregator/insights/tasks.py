"""Celery task of the insights: enrich a connection's accounts after a sync (thin: ids in, one service)."""

from __future__ import annotations

from celery import shared_task

from aggregator.models import Account

from .services import insights_refresh_accounts, insights_streams_review

__all__ = ["insights_enrich_connection_task", "insights_review_streams_task"]


@shared_task(name="insights.enrich_connection", acks_late=True, ignore_result=True)
def insights_enrich_connection_task(connection_id: str) -> dict[str, int]:
    ids = list(Account.objects.filter(connection__public_id=connection_id).values_list("pk", flat=True))
    result = insights_refresh_accounts(account_ids=ids)
    return {"enriched": result.enriched, "streams": result.streams, "signals": result.signals}


@shared_task(name="insights.review_streams", acks_late=True, ignore_result=True)
def insights_review_streams_task() -> dict[str, int]:
    """Hourly (beat): tombstone streams whose payment the compliance clock has passed."""
    return {"accounts": insights_streams_review()}
