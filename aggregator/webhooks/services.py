"""Creating, sending and re-sending webhook events (services write; the Celery task only calls these).

Delivery is at least once: an attempt that timed out may still have been processed by the receiver, and a resend
repeats the same event. Receivers de-duplicate on the event id (``Webhook-Id`` header and ``id`` in the body).
Retries back off exponentially (30 s, 1 min, 2 min … capped at 6 h, with jitter) up to
``AGGREGATOR["WEBHOOK_MAX_ATTEMPTS"]`` attempts; then the delivery is ``failed`` and staff can resend it.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import httpx
import orjson
from celery import current_app
from django.db import transaction
from django.utils import timezone

from aggregator.conf import aggregator_settings
from aggregator.observability.metrics import WEBHOOK_DELIVERIES
from providers.destinations import DestinationError, destination_resolve

from .models import WebhookDelivery, WebhookEvent
from .signing import SIGNATURE_HEADER, webhook_signature_header

__all__ = [
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_MAX_SECONDS",
    "DELIVER_TASK",
    "enqueue_webhook_delivery",
    "webhook_backoff",
    "webhook_body",
    "webhook_delivery_attempt",
    "webhook_delivery_resend",
    "webhook_event_create",
]

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 6 * 3600.0
USER_AGENT = "open-banking-aggregator-webhooks/1.0"


def _max_attempts() -> int:
    return int(aggregator_settings.WEBHOOK_MAX_ATTEMPTS)


def webhook_backoff(attempts: int) -> float:
    """Delay before attempt ``attempts + 1``: doubling from 30 s, capped at 6 h, minus up to 10 % jitter."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return ceiling * random.uniform(0.9, 1.0)


DELIVER_TASK = "webhooks.deliver"


def enqueue_webhook_delivery(*, delivery_id: int, countdown: float = 0) -> None:
    """Send the delivery task by name (tasks import services, never the reverse)."""
    current_app.signature(DELIVER_TASK, args=[delivery_id]).apply_async(countdown=countdown or None)


def _enqueue(delivery_id: int, countdown: float = 0) -> None:
    enqueue_webhook_delivery(delivery_id=delivery_id, countdown=countdown)


@transaction.atomic
def webhook_event_create(*, application: Any, type: str, payload: dict[str, Any]) -> WebhookEvent | None:
    """Record an event for ``application`` and send it after commit; ``None`` if the app has no webhook URL."""
    if not application.webhook_url:
        return None
    event = WebhookEvent.objects.create(application=application, type=type, payload=payload)
    delivery = WebhookDelivery.objects.create(event=event, url=application.webhook_url)
    transaction.on_commit(lambda: _enqueue(delivery.pk))
    return event


def webhook_body(event: WebhookEvent) -> bytes:
    """The exact bytes sent (and signed): ``{"id", "type", "created_at", "data"}``."""
    return orjson.dumps(
        {"id": str(event.id), "type": event.type, "created_at": event.created_at, "data": event.payload},
        option=orjson.OPT_UTC_Z,
    )


def webhook_delivery_attempt(*, delivery_id: int, client: httpx.Client | None = None) -> float | None:
    """Send one attempt of a pending delivery. Returns the seconds to wait before the next attempt, or ``None``
    when there is nothing more to do (delivered, given up, or not pending any more)."""
    delivery = WebhookDelivery.objects.select_related("event__application").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return None
    event = delivery.event
    body = webhook_body(event)
    secret = event.application.webhook_secret or ""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Webhook-Id": str(event.id),
        SIGNATURE_HEADER: webhook_signature_header(secret=secret, body=body),
    }
    timeout = float(aggregator_settings.WEBHOOK_TIMEOUT_SECONDS)
    response_code: int | None = None
    error = ""
    try:
        # Resolved and checked again now, and the checked address pinned: the name cannot point elsewhere in
        # between (DNS rebinding). The receiver's answer is not kept: only its status.
        pinned = destination_resolve(delivery.url)
        request_headers = {**headers, "Host": pinned.host}
        extensions = {"sni_hostname": pinned.host}
        if client is None:
            with httpx.Client(timeout=timeout, follow_redirects=False) as own:
                response = own.post(pinned.url, content=body, headers=request_headers, extensions=extensions)
        else:
            response = client.post(pinned.url, content=body, headers=request_headers, extensions=extensions)
        response_code = response.status_code
        if not 200 <= response_code < 300:
            error = f"HTTP {response_code}"
    except DestinationError as exc:
        error = f"refused destination: {exc}"[:1000]
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]

    now = timezone.now()
    delivery.attempts += 1
    delivery.response_code = response_code
    delivery.last_attempt_at = now
    delivery.last_error = error
    wait: float | None = None
    if not error:
        WEBHOOK_DELIVERIES.labels(result="delivered").inc()
        delivery.status = WebhookDelivery.Status.SUCCEEDED
        delivery.delivered_at = now
        delivery.next_retry_at = None
    elif delivery.attempts >= _max_attempts():
        WEBHOOK_DELIVERIES.labels(result="failed").inc()
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_retry_at = None
        logger.warning("Webhook %s to %s failed for good: %s", event.id, delivery.url, error)
    else:
        WEBHOOK_DELIVERIES.labels(result="retrying").inc()
        wait = webhook_backoff(delivery.attempts)
        delivery.next_retry_at = now + timezone.timedelta(seconds=wait)
    delivery.save(
        update_fields=[
            "attempts",
            "response_code",
            "last_attempt_at",
            "last_error",
            "status",
            "delivered_at",
            "next_retry_at",
        ]
    )
    return wait


@transaction.atomic
def webhook_delivery_resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send an event again (same event id) as a new delivery, keeping the old one in the log."""
    event = delivery.event
    url = event.application.webhook_url or delivery.url
    fresh = WebhookDelivery.objects.create(event=event, url=url)
    transaction.on_commit(lambda: _enqueue(fresh.pk))
    return fresh
