"""Celery task delivering webhooks: takes an id, calls the service, schedules the retry it asks for."""

from __future__ import annotations

from celery import shared_task

from .services import DELIVER_TASK, webhook_delivery_attempt

__all__ = ["webhook_deliver_task"]


@shared_task(name=DELIVER_TASK, acks_late=True, ignore_result=True)
def webhook_deliver_task(delivery_id: int) -> None:
    wait = webhook_delivery_attempt(delivery_id=delivery_id)
    if wait is not None:
        # A fresh message rather than self.retry(): the attempt count lives in the row, not in the task.
        webhook_deliver_task.apply_async(args=[delivery_id], countdown=wait)
