"""The normalized data model: what every bank dialect is turned into.

Conventions: amounts are signed ``Decimal`` (negative = money out of the account), currencies are ISO 4217
codes checked by the database, datetimes are aware UTC, dates are dates where the bank gives dates. Public
identifiers (``public_id``) are random UUIDs; internal integer keys never leave the system.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from .fields import CurrencyField, MoneyField, currency_check

__all__ = [
    "TRANSACTION_DATA_COLUMNS",
    "Account",
    "Balance",
    "Connection",
    "Institution",
    "PendingAuthorization",
    "SyncLease",
    "SyncRun",
    "Transaction",
    "UnattendedAccess",
    "mask_identifier",
]


def mask_identifier(value: str, visible: int = 4) -> str:
    """``GB29NWBK60161331926819`` → ``••••6819``: only the last ``visible`` characters are shown."""
    value = (value or "").replace(" ", "")
    if not value:
        return ""
    return "••••" + value[-visible:]


class Institution(models.Model):
    """A bank reachable through one provider adapter."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 country code")
    provider = models.CharField(max_length=64, help_text="Name of the registered adapter that speaks its API")
    logo_url = models.URLField(blank=True)
    # Adapter options for this bank (base URL, client id, limits…); secrets stay in settings/env.
    config = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(country__regex=r"^[A-Z]{2}$"), name="institution_country_iso3166"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class Connection(models.Model):
    """A user's link to one institution, holding the (encrypted) upstream credentials."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REAUTH_REQUIRED = "reauth_required", "Re-authentication required"
        ERROR = "error", "Error"
        DISCONNECTED = "disconnected", "Disconnected"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bank_connections")
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="connections")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    # MultiFernet token of the bank credentials (access/refresh tokens…); see providers.credentials.
    encrypted_credentials = models.TextField(blank=True, editable=False)
    credentials_expire_at = models.DateTimeField(null=True, blank=True)
    upstream_consent_id = models.CharField(max_length=200, blank=True, help_text="The consent id at the bank")
    upstream_consent_expires_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # EU (PSD2 RTS Art. 10a): when the user last authenticated at the bank (strong customer authentication:
    # connect, reconnect), on the compliance clock; the bank asks again 180 days later (aggregator.compliance.sca).
    last_sca_at = models.DateTimeField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True, db_index=True)
    sync_cursor = models.TextField(blank=True, help_text="The bank's delta cursor, for cursor dialects")
    sync_state = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_sync_at"], name="connection_due_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["active", "reauth_required", "error", "disconnected"]),
                name="connection_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.institution.slug} ({self.status})"


class Account(models.Model):
    class Type(models.TextChoices):
        CURRENT = "current", "Current"
        SAVINGS = "savings", "Savings"
        CREDIT_CARD = "credit_card", "Credit card"
        LOAN = "loan", "Loan"
        OTHER = "other", "Other"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="accounts")
    provider_account_id = models.CharField(max_length=200)
    display_name = models.CharField(max_length=200, blank=True)
    type = models.CharField(max_length=20, choices=Type.choices, default=Type.OTHER)
    subtype = models.CharField(max_length=64, blank=True)
    currency = CurrencyField()
    iban = models.CharField(max_length=34, blank=True)
    sort_code = models.CharField(max_length=8, blank=True)
    account_number = models.CharField(max_length=34, blank=True)
    masked_pan = models.CharField(max_length=32, blank=True)
    # The last digits of the account number when the bank shows only those (a US "mask").
    account_number_mask = models.CharField(max_length=8, blank=True)
    holder_name = models.CharField(max_length=200, blank=True)
    raw = models.JSONField(default=dict, blank=True, help_text="The provider's record, kept for audit")
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection_id", "display_name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "provider_account_id"], name="account_unique_per_connection"),
            currency_check("account"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name or self.provider_account_id} ({self.currency})"

    @property
    def masked_iban(self) -> str:
        return mask_identifier(self.iban)

    @property
    def masked_account_number(self) -> str:
        return mask_identifier(self.account_number)

    @property
    def masked_identifier(self) -> str:
        """The best identifier to show a person, with only its last 4 digits visible."""
        if self.iban:
            return self.masked_iban
        if self.account_number:
            prefix = f"{self.sort_code} " if self.sort_code else ""
            return prefix + self.masked_account_number
        if self.masked_pan:
            return mask_identifier(self.masked_pan)
        return mask_identifier(self.account_number_mask)


class Balance(models.Model):
    class Type(models.TextChoices):
        BOOKED = "booked", "Booked (closing)"
        AVAILABLE = "available", "Available"
        EXPECTED = "expected", "Expected"
        INTERIM_BOOKED = "interim_booked", "Interim booked"
        INTERIM_AVAILABLE = "interim_available", "Interim available"
        OPENING_BOOKED = "opening_booked", "Opening booked"
        OTHER = "other", "Other"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="balances")
    type = models.CharField(max_length=20, choices=Type.choices)
    amount = MoneyField()
    currency = CurrencyField()
    as_of = models.DateTimeField()
    credit_line_included = models.BooleanField(default=False)
    credit_limit = MoneyField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_id", "type"]
        constraints = [
            models.UniqueConstraint(fields=["account", "type"], name="balance_unique_type_per_account"),
            currency_check("balance"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.amount} {self.currency}"


# The bank's data of a transaction, in one place: the sync copies these from ``TransactionData`` and compares them
# to decide "changed" (``aggregator.sync.upsert``); the API reads them (``aggregator.api.serializers``). ``raw``
# (the bank's own JSON, never shown to third parties) comes last.
TRANSACTION_DATA_COLUMNS: tuple[str, ...] = (
    "status",
    "booking_date",
    "booked_at",
    "value_date",
    "amount",
    "currency",
    "description",
    "merchant_name",
    "category",
    "counterparty_name",
    "bank_transaction_code",
    "pending_transaction_id",
    "merchant_category_code",
    "raw",
)
if TRANSACTION_DATA_COLUMNS[-1] != "raw":  # pragma: no cover - the readers rely on it
    raise AssertionError("TRANSACTION_DATA_COLUMNS must end with 'raw'")


class Transaction(models.Model):
    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        PENDING = "pending", "Pending"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No single-column index: the unique (account, provider_transaction_id) and the (account, booking date, id)
    # indexes both lead with the account, and a third one would only slow every insert.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="transactions", db_index=False)
    provider_transaction_id = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices)
    booking_date = models.DateField()
    booked_at = models.DateTimeField(null=True, blank=True, help_text="Exact time, where the bank gives one")
    value_date = models.DateField(null=True, blank=True)
    amount = MoneyField(help_text="Signed: negative is money out of the account")
    currency = CurrencyField()
    description = models.TextField(blank=True)
    merchant_name = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=100, blank=True)
    counterparty_name = models.CharField(max_length=200, blank=True)
    bank_transaction_code = models.CharField(max_length=100, blank=True)
    # For a booked transaction that replaced a pending one under a new id: the pending one's provider id.
    pending_transaction_id = models.CharField(max_length=200, blank=True)
    merchant_category_code = models.CharField(max_length=4, blank=True, help_text="ISO 18245 MCC, where sent")
    raw = models.JSONField(default=dict, blank=True, help_text="The provider's record, kept for audit")
    removed_at = models.DateTimeField(null=True, blank=True, help_text="Set when a pending item vanished or posted")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-booking_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "provider_transaction_id"], name="transaction_unique_per_account"
            ),
            models.CheckConstraint(condition=Q(status__in=["booked", "pending"]), name="transaction_status_valid"),
            currency_check("transaction"),
        ]
        indexes = [
            # The hot query: an account's transactions newest first (keyset on booking date, id).
            models.Index(fields=["account", "-booking_date", "-id"], name="txn_account_newest_idx"),
            # The delta feed: what changed on an account since a point in time.
            models.Index(fields=["account", "updated_at", "id"], name="txn_account_changes_idx"),
            # The delta feed's "added" phase walks (created_at, id): see aggregator.delta.
            models.Index(fields=["account", "created_at", "id"], name="txn_account_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.booking_date} {self.amount} {self.currency} {self.description[:40]}"


class SyncRun(models.Model):
    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        MANUAL = "manual", "Manual (command or admin)"
        CONNECT = "connect", "After connecting"
        API = "api", "Requested by a third party"

    class Outcome(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REAUTH_REQUIRED = "reauth_required", "Re-authentication required"
        RATE_LIMITED = "rate_limited", "Rate limited"
        SKIPPED = "skipped", "Skipped"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="sync_runs")
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.SCHEDULED)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.QUEUED)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    accounts_count = models.PositiveIntegerField(default=0)
    added_count = models.PositiveIntegerField(default=0)
    modified_count = models.PositiveIntegerField(default=0)
    removed_count = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_detail = models.TextField(blank=True)
    # The data types this run reads ("accounts", "balances", "transactions"); empty: all of them.
    data_types = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [
            models.Index(fields=["connection", "-queued_at"], name="syncrun_connection_recent_idx"),
            # The operations page's time ranges over every connection (aggregator/ops/selectors.py).
            models.Index(fields=["queued_at"], name="syncrun_queued_at_idx"),
        ]

    def __str__(self) -> str:
        return f"sync {self.public_id} {self.outcome}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


# The connect flow's server-side state lives with the flow (aggregator/connections/); the sync lease and the
# unattended-access counts with the sync engine (aggregator/sync/). Imported here so Django registers them.
from .connections.models import PendingAuthorization  # noqa: E402
from .sync.models import SyncLease, UnattendedAccess  # noqa: E402
