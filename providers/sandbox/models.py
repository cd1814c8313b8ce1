"""Models of the sandbox mock banks: the clock, and each bank's own OAuth clients, consents, codes and tokens.

Every bank (``albion``, ``rhein``, ``liberty``) runs its own authorization server: rows carry a ``bank`` column
and are never shared across banks. All lifetimes are measured on the sandbox clock (``clock.sandbox_now()``),
so advancing the clock expires tokens and consents for real. ``SandboxClock`` is defined in :mod:`.clock`, beside
the functions that read it, and registered from here; nothing here imports the bank data.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from django.db import models

from .clock import SandboxClock, sandbox_now
from .oauth.dialects import allowed_scope
from .payments.models import SandboxIdempotencyKey, SandboxPayment

__all__ = [
    "SandboxAuthorizationCode",
    "SandboxClient",
    "SandboxClock",
    "SandboxConsent",
    "SandboxCounter",
    "SandboxIdempotencyKey",
    "SandboxPayment",
    "SandboxToken",
]

BANK_CHOICES = [("albion", "Albion (OBIE)"), ("rhein", "Rhein (Berlin Group)"), ("liberty", "Liberty (US)")]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _now_ts() -> int:
    return int(sandbox_now().timestamp())


class SandboxClient(models.Model, ClientMixin):
    """A third party registered at one sandbox bank (confidential client: client_secret_basic or _post)."""

    bank = models.CharField(max_length=16, choices=BANK_CHOICES)
    client_id = models.CharField(max_length=100)
    client_secret = models.CharField(max_length=200)
    name = models.CharField(max_length=200, blank=True)
    redirect_uris = models.JSONField(default=list)
    grant_types = models.JSONField(default=list)
    scope = models.CharField(max_length=200, default="accounts")
    require_pkce = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bank", "client_id"], name="sandbox_client_unique_per_bank")]

    def __str__(self) -> str:
        return f"{self.bank}:{self.client_id}"

    # --- authlib ClientMixin -------------------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0] if self.redirect_uris else ""

    def get_allowed_scope(self, scope: str | None) -> str:
        return allowed_scope(self.scope, scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact match, except loopback hosts whose port may vary (RFC 8252 §7.3)."""
        if redirect_uri in self.redirect_uris:
            return True
        try:
            wanted = urlsplit(redirect_uri)
            _ = wanted.port  # raises ValueError on a malformed port
        except ValueError:
            return False
        if wanted.hostname not in LOOPBACK_HOSTS or wanted.scheme != "http" or wanted.fragment:
            return False
        for registered in self.redirect_uris:
            reg = urlsplit(registered)
            if (
                reg.hostname == wanted.hostname
                and reg.scheme == wanted.scheme
                and reg.path == wanted.path
                and reg.query == wanted.query
            ):
                return True
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.client_secret.encode(), (client_secret or "").encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class SandboxConsent(models.Model):
    """The bank-side consent (albion account-access-consent, rhein consent, liberty implicit grant).

    ``status`` is stored in the bank's own vocabulary: albion ``AwaitingAuthorisation|Authorised|Rejected|
    Revoked``; rhein ``received|valid|rejected|expired|terminatedByTpp``; liberty ``received|valid|rejected|
    revoked``.

    ``kind`` ``payment``: the consent to one payment (albion domestic(-scheduled)-payment-consent, statuses
    ``AwaitingAuthorisation|Authorised|Consumed|Rejected``; rhein: the payment's authorisation, ``received|valid|
    rejected``, its id the paymentId); its instruction is the ``payment`` row (``SandboxPayment``).
    """

    KIND_ACCOUNTS = "accounts"
    KIND_PAYMENT = "payment"

    id = models.CharField(primary_key=True, max_length=64)
    bank = models.CharField(max_length=16, choices=BANK_CHOICES)
    kind = models.CharField(
        max_length=16, default=KIND_ACCOUNTS, choices=[(KIND_ACCOUNTS, "Account access"), (KIND_PAYMENT, "Payment")]
    )
    client = models.ForeignKey(SandboxClient, null=True, blank=True, on_delete=models.CASCADE)
    status = models.CharField(max_length=32)
    username = models.CharField(max_length=64, blank=True)
    account_ids = models.JSONField(default=list)
    permissions = models.JSONField(default=list)  # albion
    access = models.JSONField(default=dict)  # rhein, as requested
    expires_at = models.DateTimeField(null=True, blank=True)  # albion ExpirationDateTime
    transaction_from = models.DateTimeField(null=True, blank=True)
    transaction_to = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)  # rhein
    frequency_per_day = models.PositiveIntegerField(default=4)
    recurring = models.BooleanField(default=True)
    combined_service = models.BooleanField(default=False)
    created_at = models.DateTimeField()  # sandbox time
    status_updated_at = models.DateTimeField()  # sandbox time
    last_action_on = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.bank}:{self.id} {self.status}"


class SandboxAuthorizationCode(models.Model, AuthorizationCodeMixin):
    bank = models.CharField(max_length=16, choices=BANK_CHOICES)
    code = models.CharField(max_length=120, unique=True)
    client = models.ForeignKey(SandboxClient, on_delete=models.CASCADE)
    consent = models.ForeignKey(SandboxConsent, on_delete=models.CASCADE)
    username = models.CharField(max_length=64)
    redirect_uri = models.TextField(blank=True)
    scope = models.CharField(max_length=200, blank=True)
    code_challenge = models.CharField(max_length=128, blank=True)
    code_challenge_method = models.CharField(max_length=10, blank=True)
    issued_at = models.BigIntegerField()  # sandbox epoch seconds

    LIFETIME_SECONDS = 300

    def __str__(self) -> str:
        return f"{self.bank} code for {self.username}"

    def is_expired(self) -> bool:
        return _now_ts() > self.issued_at + self.LIFETIME_SECONDS

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class SandboxToken(models.Model, TokenMixin):
    """An access token (with an optional rotating refresh token) issued by one sandbox bank."""

    bank = models.CharField(max_length=16, choices=BANK_CHOICES)
    client = models.ForeignKey(SandboxClient, on_delete=models.CASCADE)
    consent = models.ForeignKey(SandboxConsent, null=True, blank=True, on_delete=models.CASCADE)
    username = models.CharField(max_length=64, blank=True)  # blank for client-credentials tokens
    token_type = models.CharField(max_length=40, default="Bearer")
    access_token = models.CharField(max_length=255, unique=True)
    refresh_token = models.CharField(max_length=255, null=True, blank=True, unique=True)
    scope = models.CharField(max_length=200, blank=True)
    issued_at = models.BigIntegerField()  # sandbox epoch seconds
    expires_in = models.IntegerField(default=600)
    access_token_revoked = models.BooleanField(default=False)
    refresh_token_revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.bank} token for {self.username or self.client.client_id}"

    def check_client(self, client: SandboxClient) -> bool:
        return self.client_id == client.pk

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return _now_ts() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.access_token_revoked

    def get_user(self):  # type: ignore[no-untyped-def]
        return self.username

    def get_client(self) -> SandboxClient:
        return self.client


class SandboxCounter(models.Model):
    """Small persistent counters shared by every server process (frequencyPerDay, fault sequences)."""

    key = models.CharField(max_length=255, unique=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}={self.value}"
