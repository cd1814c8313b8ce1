"""Consents, their audit trail, and django-oauth-toolkit's models bound to a consent.

Every authorization-code grant, access token and refresh token of a third-party app (TPP) carries the
``Consent`` it was issued under; client-credentials tokens (scope ``consents``) carry none. State changes of a
consent go through ``consent.services`` only, each one appending an immutable ``ConsentEvent``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from oauth2_provider.models import (
    AbstractAccessToken,
    AbstractApplication,
    AbstractDeviceGrant,
    AbstractGrant,
    AbstractIDToken,
    AbstractRefreshToken,
)

__all__ = [
    "AccessLogEntry",
    "AccessToken",
    "Application",
    "Consent",
    "ConsentEvent",
    "DeviceGrant",
    "Grant",
    "IDToken",
    "RefreshToken",
]


class Application(AbstractApplication):
    """A third-party app (TPP) registered as an OAuth2 client."""

    webhook_url = models.URLField(blank=True)
    # Shared secret for HMAC-SHA256 webhook signatures; shown once to the TPP, never in lists.
    webhook_secret = models.CharField(max_length=128, blank=True)

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        verbose_name = "third-party app"


class Consent(models.Model):
    class Status(models.TextChoices):
        AWAITING_AUTHORISATION = "awaiting_authorisation", "Awaiting authorisation"
        AUTHORISED = "authorised", "Authorised"
        REJECTED = "rejected", "Rejected"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    class Permission(models.TextChoices):
        ACCOUNTS = "accounts", "Accounts"
        BALANCES = "balances", "Balances"
        TRANSACTIONS = "transactions", "Transactions"
        INSIGHTS = "insights", "Insights"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="consents"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="consents"
    )
    status = models.CharField(
        max_length=32, choices=Status.choices, default=Status.AWAITING_AUTHORISATION, db_index=True
    )
    permissions = models.JSONField(default=list, help_text="Subset of accounts, balances, transactions, insights")
    expires_at = models.DateTimeField(help_text="Access ends at this instant")
    transactions_from = models.DateTimeField(null=True, blank=True)
    transactions_to = models.DateTimeField(null=True, blank=True)
    accounts = models.ManyToManyField("aggregator.Account", blank=True, related_name="consents")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    authorised_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    last_accessed_at = models.DateTimeField(null=True, blank=True)
    # Set when every token of the consent was revoked while the consent itself stands (refresh-token reuse): the TPP
    # can no longer read until the user authorises the same consent again, which clears both fields.
    tokens_revoked_at = models.DateTimeField(null=True, blank=True)
    tokens_revoked_reason = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["awaiting_authorisation", "authorised", "rejected", "revoked", "expired"]),
                name="consent_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(transactions_from__isnull=True)
                | Q(transactions_to__isnull=True)
                | Q(transactions_from__lte=models.F("transactions_to")),
                name="consent_transaction_range_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(status="authorised") | Q(user__isnull=False),
                name="consent_authorised_has_user",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="consent_status_expiry_idx")]

    def __str__(self) -> str:
        return f"consent {self.id} ({self.status})"


class ConsentEvent(models.Model):
    """One transition of a consent, or an event within a status (its tokens revoked, an authorisation again).
    Append-only: rows are never updated or deleted."""

    class Actor(models.TextChoices):
        USER = "user", "User"
        TPP = "tpp", "Third-party app"
        STAFF = "staff", "Staff"
        SYSTEM = "system", "System"

    class Kind(models.TextChoices):
        STATUS_CHANGED = "status_changed", "Status changed"
        TOKENS_REVOKED = "tokens_revoked", "Tokens revoked"
        REAUTHORISED = "reauthorised", "Authorised again"

    consent = models.ForeignKey(Consent, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.STATUS_CHANGED)
    at = models.DateTimeField(auto_now_add=True)
    actor_type = models.CharField(max_length=10, choices=Actor.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(max_length=32, blank=True)
    to_status = models.CharField(max_length=32)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status} by {self.actor_type}"

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.pk is not None and not self._state.adding:
            raise ValueError("Consent events are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("Consent events are immutable.")


class AccessLogEntry(models.Model):
    """One data request by a third-party app under a consent."""

    consent = models.ForeignKey(Consent, on_delete=models.CASCADE, related_name="access_log")
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    at = models.DateTimeField(db_index=True)
    method = models.CharField(max_length=10)
    endpoint = models.CharField(max_length=300)
    status_code = models.PositiveSmallIntegerField()
    request_id = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["consent", "-at"], name="accesslog_consent_recent_idx")]
        verbose_name_plural = "access log entries"

    def __str__(self) -> str:
        return f"{self.method} {self.endpoint} → {self.status_code}"


class Grant(AbstractGrant):
    """An authorization code; ``code`` holds the SHA-256 of the code (consent.oauth.code_checksum), never the code."""

    consent = models.ForeignKey(Consent, null=True, blank=True, on_delete=models.CASCADE, related_name="grants")

    class Meta(AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"


class IDToken(AbstractIDToken):
    class Meta(AbstractIDToken.Meta):
        swappable = "OAUTH2_PROVIDER_ID_TOKEN_MODEL"


class AccessToken(AbstractAccessToken):
    consent = models.ForeignKey(Consent, null=True, blank=True, on_delete=models.CASCADE, related_name="access_tokens")
    # SHA-256 of the authorization code this token was issued for (blank for refreshed and client-credentials
    # tokens): a replay of that code ends the consent's tokens (RFC 6749 §4.1.2) after the grant row is gone.
    code_checksum = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta(AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"


class RefreshToken(AbstractRefreshToken):
    consent = models.ForeignKey(Consent, null=True, blank=True, on_delete=models.CASCADE, related_name="refresh_tokens")

    class Meta(AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"


class DeviceGrant(AbstractDeviceGrant):
    class Meta(AbstractDeviceGrant.Meta):
        swappable = "OAUTH2_PROVIDER_DEVICE_GRANT_MODEL"
