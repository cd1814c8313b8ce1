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

from providers.credentials import decrypt_text, encrypt_text

__all__ = [
    "AccessLogEntry",
    "AccessToken",
    "Application",
    "ClockWarning",
    "Consent",
    "ConsentEvent",
    "DeviceGrant",
    "Grant",
    "IDToken",
    "PushedAuthorizationRequest",
    "RefreshToken",
]


class Application(AbstractApplication):
    """A third-party app (TPP) registered as an OAuth2 client.

    ``profile`` is its security profile (``docs/security.md``): ``baseline`` (client secret, authorization
    parameters in the URL, bearer tokens) or ``fapi2`` (FAPI 2.0: ``private_key_jwt`` with the keys of ``jwks`` or
    ``jwks_uri``, pushed authorization requests only, DPoP-bound tokens). ``FAPI2_REQUIRED`` makes every TPP
    ``fapi2`` whatever its row says (``consent.fapi.profile.application_is_fapi2``).
    """

    class Profile(models.TextChoices):
        BASELINE = "baseline", "Baseline (client secret, bearer tokens)"
        FAPI2 = "fapi2", "FAPI 2.0 (private_key_jwt, PAR, DPoP)"

    webhook_url = models.URLField(blank=True)
    profile = models.CharField(max_length=16, choices=Profile.choices, default=Profile.BASELINE)
    # The TPP's public keys for private_key_jwt (RFC 7523), inline (a JWKS document) or by URL (fetched, cached).
    jwks = models.JSONField(null=True, blank=True, help_text="Public JWKS for private_key_jwt (inline)")
    jwks_uri = models.URLField(blank=True, max_length=500, help_text="URL of the public JWKS for private_key_jwt")
    # The shared secret for HMAC-SHA256 webhook signatures, encrypted at rest like bank credentials (MultiFernet
    # with CREDENTIAL_KEYS, providers/credentials.py): read and written as ``webhook_secret``; shown once to the
    # TPP (create_tpp), never in the admin. Re-encrypted with the newest key by ``rotate_webhook_secret_keys``.
    webhook_secret_encrypted = models.TextField(blank=True, default="", editable=False)

    @property
    def webhook_secret(self) -> str:
        """The secret in clear (decrypted on each read: the clear value is never kept on the instance)."""
        token = self.webhook_secret_encrypted
        return decrypt_text(token) if token else ""

    @webhook_secret.setter
    def webhook_secret(self, value: str) -> None:
        self.webhook_secret_encrypted = encrypt_text(value) if value else ""

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
        PAYMENTS = "payments", "Payments"
        INSIGHTS = "insights", "Insights"

    # What a data consent may ask for; ``payments`` is the one permission of a payment consent (and only its own).
    DATA_PERMISSIONS = ("accounts", "balances", "transactions", "insights")

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
    # Set on a payment consent (permissions == ["payments"]): the one payment it lets the TPP make.
    payment_consent = models.OneToOneField(
        "payments.PaymentConsent", null=True, blank=True, on_delete=models.PROTECT, related_name="consent"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    authorised_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    last_accessed_at = models.DateTimeField(null=True, blank=True)
    # Set when every token of the consent was revoked while the consent itself stands (refresh-token reuse): the TPP
    # can no longer read until the user authorises the same consent again, which clears both fields.
    tokens_revoked_at = models.DateTimeField(null=True, blank=True)
    tokens_revoked_reason = models.CharField(max_length=64, blank=True)
    # UK (FCA SCA-RTS Art. 10A): the user must reconfirm this consent by this instant (compliance clock), else the
    # TPP is refused ``reconfirmation_required``; null when no shared account is at a bank with that rule
    # (consent.clocks, docs/compliance.md).
    reconfirm_by = models.DateTimeField(null=True, blank=True, db_index=True)
    reconfirmed_at = models.DateTimeField(null=True, blank=True)

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
    Append-only: rows are never updated or deleted (``ledger_leaf_index`` excepted, see below)."""

    class Actor(models.TextChoices):
        USER = "user", "User"
        TPP = "tpp", "Third-party app"
        STAFF = "staff", "Staff"
        SYSTEM = "system", "System"

    class Kind(models.TextChoices):
        STATUS_CHANGED = "status_changed", "Status changed"
        TOKENS_REVOKED = "tokens_revoked", "Tokens revoked"
        REAUTHORISED = "reauthorised", "Authorised again"
        RECONFIRMED = "reconfirmed", "Reconfirmed by the user"

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
    # The id of the domain event published for this row, and the index of its leaf in the ledger: the one field
    # set after the row is written, by the ledger's sequencer (a queryset update) once the leaf is appended.
    event_id = models.UUIDField(null=True, blank=True, db_index=True)
    ledger_leaf_index = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]
        # Consents by status over time on the operations page (aggregator/ops/selectors.py).
        indexes = [models.Index(fields=["at"], name="consentevent_at_idx")]

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
    # DPoP (RFC 9449): the RFC 7638 thumbprint of the key the token is bound to (``cnf.jkt``); blank for bearer.
    jkt = models.CharField(max_length=64, blank=True)

    class Meta(AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"


class RefreshToken(AbstractRefreshToken):
    consent = models.ForeignKey(Consent, null=True, blank=True, on_delete=models.CASCADE, related_name="refresh_tokens")
    # DPoP: a bound refresh token is accepted only with a proof signed by the same key.
    jkt = models.CharField(max_length=64, blank=True)

    class Meta(AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"


class DeviceGrant(AbstractDeviceGrant):
    class Meta(AbstractDeviceGrant.Meta):
        swappable = "OAUTH2_PROVIDER_DEVICE_GRANT_MODEL"


class PushedAuthorizationRequest(models.Model):
    """A pushed authorization request (RFC 9126): the parameters a client sent to ``/oauth/par/``.

    The client receives ``urn:ietf:params:oauth:request_uri:<reference>``; only the SHA-256 of the reference is
    stored. The first browser that presents it within its lifetime claims it (``claim_checksum``: the SHA-256 of a
    secret kept in that browser's session), so reloads and the return from connecting a bank keep working for that
    browser only; issuing the code (or the user's denial) deletes the row: a request URI is used once.
    """

    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="pushed_requests"
    )
    reference_checksum = models.CharField(max_length=64, unique=True)
    parameters = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    claim_checksum = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "pushed authorization request"

    def __str__(self) -> str:
        return f"pushed authorization request of {self.application_id} until {self.expires_at:%H:%M:%S}"


class ClockWarning(models.Model):
    """One warning sent ahead of a compliance deadline (consent reconfirmation, connection re-authentication).

    Unique per subject, deadline and stage (``T-14``, ``T-3``): the periodic task that sends them
    (``consent.clock_warnings``) sends each at most once, however often it runs; a new deadline (after the user
    reconfirms or re-authenticates) gets its own warnings."""

    class Kind(models.TextChoices):
        RECONFIRMATION_DUE = "consent.reconfirmation_due", "Consent reconfirmation due"
        REAUTH_DUE = "connection.reauth_due", "Connection re-authentication due"

    kind = models.CharField(max_length=40, choices=Kind.choices)
    subject_id = models.CharField(max_length=64, help_text="Public id of the consent or connection")
    due_at = models.DateTimeField()
    stage = models.CharField(max_length=8, help_text="How long before the deadline, e.g. T-14")
    sent_at = models.DateTimeField()
    emailed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "subject_id", "due_at", "stage"], name="clockwarning_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_id} {self.stage}"
