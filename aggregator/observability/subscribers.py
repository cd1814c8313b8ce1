"""Domain-event subscribers that count what happened (connected in ``AggregatorConfig.ready``)."""

from __future__ import annotations

from ..domain_events import DomainEvent, subscribe
from .metrics import CONSENT_TRANSITIONS

__all__ = ["metrics_subscribe"]


def _count(event: DomainEvent) -> None:
    if event.name == "consent.status_changed":
        data = event.data or {}
        CONSENT_TRANSITIONS.labels(
            from_status=str(data.get("from_status") or "none"), to_status=str(data.get("to_status") or "none")
        ).inc()


def metrics_subscribe() -> None:
    subscribe(_count, dispatch_uid="aggregator.observability.metrics")
