"""What the insights compute, stored beside the transactions: enrichment (category, confidence, source,
counterparty), counterparties, user corrections, recurring streams and risk signals."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from aggregator.fields import CurrencyField, MoneyField
from aggregator.models import Account, Transaction

__all__ = ["CategoryCorrection", "Counterparty", "RecurringStream", "RiskSignal", "TransactionEnrichment"]


class Counterparty(models.Model):
    """A normalised counterparty: one row per name key, shared by every account (a merchant is a merchant)."""

    class Type(models.TextChoices):
        MERCHANT = "merchant"
        PERSON = "person"
        EMPLOYER = "employer"
        GOVERNMENT = "government"
        FINANCIAL_INSTITUTION = "financial_institution"

    key = models.CharField(max_length=200, unique=True, help_text="Lower-case letters and digits of the name")
    public_id = models.CharField(max_length=24, unique=True, help_text='"cp_" + 16 hex digits, stable')
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=24, choices=Type.choices, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "counterparties"

    def __str__(self) -> str:
        return self.name


class TransactionEnrichment(models.Model):
    class Confidence(models.TextChoices):
        VERY_HIGH = "very_high"
        HIGH = "high"
        MEDIUM = "medium"
        LOW = "low"

    class Source(models.TextChoices):
        RULE = "rule"
        MCC = "mcc"
        MODEL = "model"
        USER = "user"

    transaction = models.OneToOneField(
        # No database-level foreign key: aggregator_transaction is partitioned by account on PostgreSQL (see
        # aggregator/migrations/0013), so nothing can reference its id alone. The ORM's collector cascades.
        Transaction,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="enrichment",
        db_constraint=False,
    )
    category_primary = models.CharField(max_length=64)
    category_detailed = models.CharField(max_length=128)
    confidence = models.CharField(max_length=12, choices=Confidence.choices)
    source = models.CharField(max_length=8, choices=Source.choices)
    probability = models.FloatField(help_text="Calibrated estimate that the label is right")
    counterparty = models.ForeignKey(Counterparty, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    taxonomy_version = models.CharField(max_length=32)
    model_version = models.CharField(max_length=32, blank=True)
    updated_at = models.DateTimeField()
    # (``counterparty`` is indexed as a foreign key; a second index on it only slowed every write)

    def __str__(self) -> str:
        return f"{self.category_detailed} ({self.confidence}, {self.source})"


class CategoryCorrection(models.Model):
    """A user's (or their TPP's) category for a counterparty: overrides every label of that counterparty for
    that user, and becomes training data."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="category_corrections")
    counterparty = models.ForeignKey(Counterparty, on_delete=models.CASCADE, related_name="corrections")
    category_detailed = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "counterparty"], name="correction_user_counterparty")]

    def __str__(self) -> str:
        return f"{self.counterparty} → {self.category_detailed}"


class RecurringStream(models.Model):
    class Frequency(models.TextChoices):
        WEEKLY = "weekly"
        BIWEEKLY = "biweekly"
        SEMI_MONTHLY = "semi_monthly"
        MONTHLY = "monthly"
        ANNUALLY = "annually"

    class Status(models.TextChoices):
        EARLY_DETECTION = "early_detection"
        MATURE = "mature"
        TOMBSTONED = "tombstoned"

    class Direction(models.TextChoices):
        INFLOW = "inflow"
        OUTFLOW = "outflow"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="recurring_streams")
    stream_key = models.CharField(max_length=220)
    counterparty = models.ForeignKey(Counterparty, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    description = models.TextField(blank=True)
    category_detailed = models.CharField(max_length=128)
    frequency = models.CharField(max_length=16, choices=Frequency.choices)
    average_amount = MoneyField()
    last_amount = MoneyField()
    currency = CurrencyField()
    first_date = models.DateField()
    last_date = models.DateField()
    predicted_next_date = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices)
    is_active = models.BooleanField(default=True)
    transaction_ids = models.JSONField(default=list, help_text="Public ids of the stream's transactions, oldest first")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "stream_key"], name="stream_account_key")]

    def __str__(self) -> str:
        return f"{self.counterparty} {self.frequency} {self.direction} ({self.status})"


class RiskSignal(models.Model):
    class Kind(models.TextChoices):
        DUPLICATE_CHARGE = "duplicate_charge"
        CARD_TESTING = "card_testing"
        AMOUNT_OUTLIER = "amount_outlier"
        NEW_PAYEE = "new_payee"
        VELOCITY = "velocity"
        BALANCE_RISK = "balance_risk"
        INCOME_STABILITY = "income_stability"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="risk_signals")
    transaction = models.ForeignKey(
        Transaction,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="risk_signals",
        db_constraint=False,  # the table is partitioned: see TransactionEnrichment.transaction
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    subject_key = models.CharField(max_length=64, blank=True, help_text="The transaction's public id, or ''")
    score = models.FloatField()
    reason = models.TextField()
    transaction_ids = models.JSONField(default=list, help_text="Public ids of the transactions behind it")
    details = models.JSONField(default=dict, blank=True)
    detected_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "kind", "subject_key"], name="signal_account_kind_subject")
        ]
        indexes = [models.Index(fields=["account", "-detected_at"], name="signal_account_recent_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.score:.2f}"
