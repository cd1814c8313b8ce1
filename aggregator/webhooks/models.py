"""Webhook events (what happened, for whom) and their deliveries (how sending it went)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

__all__ = ["WebhookDelivery", "WebhookEvent"]


class WebhookEvent(models.Model):
    """One event for one third-party app. ``id`` is sent as ``Webhook-Id`` and in the body: receivers
    de-duplicate on it (delivery is at least once)."""

    class Type(models.TextChoices):
        TRANSACTIONS_UPDATED = "transactions.updated", "Transactions updated"
        CONSENT_REVOKED = "consent.revoked", "Consent revoked"
        CONSENT_EXPIRED = "consent.expired", "Consent expired"
        CONNECTION_REAUTH_REQUIRED = "connection.reauth_required", "Connection needs re-authentication"
        CONNECTION_REAUTH_DUE = "connection.reauth_due", "Connection re-authentication due soon"
        CONSENT_RECONFIRMATION_DUE = "consent.reconfirmation_due", "Consent reconfirmation due soon"
        PAYMENT_STATUS_CHANGED = "payment.status_changed", "Payment status changed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="webhook_events"
    )
    type = models.CharField(max_length=64, choices=Type.choices)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["application", "-created_at"], name="webhookevent_app_recent_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookDelivery(models.Model):
    """Sending one event to its app's webhook URL: attempts so far, the outcome, the next retry."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (gave up)"

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    url = models.URLField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event.type} → {self.url} ({self.status}, {self.attempts} attempts)"
