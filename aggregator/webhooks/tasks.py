"""Celery task delivering webhooks: takes an id, calls the service, schedules the retry it asks for."""

from __future__ import annotations

from celery import shared_task

from .services import webhook_delivery_attempt

__all__ = ["enqueue_webhook_delivery", "webhook_deliver_task"]


@shared_task(name="webhooks.deliver", acks_late=True, ignore_result=True)
def webhook_deliver_task(delivery_id: int) -> None:
    wait = webhook_delivery_attempt(delivery_id=delivery_id)
    if wait is not None:
        # A fresh message rather than self.retry(): the attempt count lives in the row, not in the task.
        webhook_deliver_task.apply_async(args=[delivery_id], countdown=wait)


def enqueue_webhook_delivery(*, delivery_id: int, countdown: float = 0) -> None:
    webhook_deliver_task.apply_async(args=[delivery_id], countdown=countdown or None)
