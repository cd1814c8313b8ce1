"""Celery tasks for consents (thin: they call one service)."""

from __future__ import annotations

from celery import shared_task

from .services import consents_expire_due

__all__ = ["consents_expire_due_task"]


@shared_task(name="consent.tasks.consents_expire_due_task", ignore_result=True)
def consents_expire_due_task() -> int:
    """Mark consents past their expiry (and unanswered requests past the window) expired. Idempotent."""
    return consents_expire_due()
