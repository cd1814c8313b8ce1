"""Celery tasks for consents (thin: they call one service)."""

from __future__ import annotations

from celery import shared_task

from .clock_warnings import clock_warnings_send
from .services import consents_expire_due, oauth_clear_expired

__all__ = ["compliance_clocks_task", "consents_expire_due_task", "oauth_clear_expired_task"]


@shared_task(name="consent.tasks.consents_expire_due_task", ignore_result=True)
def consents_expire_due_task() -> int:
    """Mark consents past their expiry (and unanswered requests past the window) expired. Idempotent."""
    return consents_expire_due()


@shared_task(name="consent.tasks.oauth_clear_expired_task", ignore_result=True)
def oauth_clear_expired_task() -> None:
    """Delete expired authorization codes and tokens (django-oauth-toolkit's cleartokens). Idempotent."""
    oauth_clear_expired()


@shared_task(name="consent.tasks.compliance_clocks_task", ignore_result=True)
def compliance_clocks_task() -> dict:
    """EU connections past their 180-day SCA → reauth_required; warnings (webhooks and emails) 14 and 3 days
    before each reconfirmation and re-authentication deadline, each once. Idempotent."""
    return clock_warnings_send()
