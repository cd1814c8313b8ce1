"""Payment consents, payments and their event trail.

A ``PaymentConsent`` is one credit transfer a TPP asks for (the instruction), waiting for the user's approval on
our consent screen and at the bank (SCA). Once authorised it is *consumed* by exactly one ``Payment``. A
``Payment`` is created once per ``(client_id, idempotency_key)`` and submitted to the bank by a task with the
bank-side idempotency key ``bank_idempotency_key`` (stable per payment: a retry after a crash or a timeout finds the
same payment at the bank, never a second one). ``PaymentEvent`` rows are the append-only trail shown in admin.

The TPP is named by its OAuth ``client_id`` (no foreign key: ``consent`` sits above this data domain).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from ..fields import CurrencyField, MoneyField, currency_check

__all__ = ["Payment", "PaymentConsent", "PaymentEvent"]


class PaymentConsent(models.Model):
    class Status(models.TextChoices):
        AWAITING_AUTHORISATION = "awaiting_authorisation", "Awaiting authorisation"
        AUTHORISED = "authorised", "Authorised"
        CONSUMED = "consumed", "Consumed"
        REJECTED = "rejected", "Rejected"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client_id = models.CharField(max_length=100, db_index=True, help_text="The TPP's OAuth client_id")
    status = models.CharField(
        max_length=32, choices=Status.choices, default=Status.AWAITING_AUTHORISATION, db_index=True
    )
    # --- the instruction ---
    amount = MoneyField(help_text="Positive: what the debtor pays")
    currency = CurrencyField()
    creditor_name = models.CharField(max_length=70)
    creditor_iban = models.CharField(max_length=34, blank=True)
    creditor_sort_code = models.CharField(max_length=6, blank=True)
    creditor_account_number = models.CharField(max_length=8, blank=True)
    reference = models.CharField(max_length=35, blank=True)
    requested_execution_date = models.DateField(null=True, blank=True)
    instruction_id = models.CharField(max_length=35, unique=True)
    end_to_end_id = models.CharField(max_length=35, unique=True)
    # --- who pays, from which account ---
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="payment_consents"
    )
    debtor_account = models.ForeignKey(
        "aggregator.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="payment_consents"
    )
    debtor_fixed = models.BooleanField(default=False, help_text="The TPP chose the debtor account at creation")
    # --- the bank side (SCA) ---
    bank_consent_id = models.CharField(max_length=200, blank=True, help_text="The bank's consent / payment id")
    bank_state = models.CharField(max_length=128, blank=True, db_index=True, help_text="OAuth state at the bank")
    bank_redirect_uri = models.URLField(max_length=500, blank=True)
    encrypted_authorization = models.TextField(blank=True, editable=False, help_text="Encrypted AuthorizationRequest")
    encrypted_credentials = models.TextField(blank=True, editable=False, help_text="Encrypted payment credentials")
    # --- lifecycle ---
    expires_at = models.DateTimeField(help_text="Not authorised (or not used) by then: expired")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    authorised_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="paymentconsent_amount_positive"),
            currency_check("paymentconsent"),
            models.CheckConstraint(
                condition=(~Q(creditor_iban="") & Q(creditor_sort_code="") & Q(creditor_account_number=""))
                | (Q(creditor_iban="") & ~Q(creditor_sort_code="") & ~Q(creditor_account_number="")),
                name="paymentconsent_one_creditor_scheme",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["authorised", "consumed"])
                | (Q(user__isnull=False) & Q(debtor_account__isnull=False)),
                name="paymentconsent_authorised_has_debtor",
            ),
        ]

    def __str__(self) -> str:
        return f"payment consent {self.public_id} ({self.amount} {self.currency}, {self.status})"

    @property
    def creditor_account_display(self) -> str:
        if self.creditor_iban:
            return " ".join(self.creditor_iban[i : i + 4] for i in range(0, len(self.creditor_iban), 4))
        sc = self.creditor_sort_code
        return f"{sc[:2]}-{sc[2:4]}-{sc[4:]} {self.creditor_account_number}"


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        SETTLED = "settled", "Settled"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed"

    FINAL = ("settled", "rejected", "failed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    consent = models.OneToOneField(PaymentConsent, on_delete=models.PROTECT, related_name="payment")
    client_id = models.CharField(max_length=100, help_text="The TPP's OAuth client_id")
    idempotency_key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical request body (RFC 8785)")
    bank_idempotency_key = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    bank_status = models.CharField(max_length=64, blank=True)
    reason_code = models.CharField(max_length=128, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    bank_payment_id = models.CharField(max_length=200, blank=True)
    end_to_end_id = models.CharField(max_length=35)
    amount = MoneyField()
    currency = CurrencyField()
    transaction = models.OneToOneField(
        # No database-level foreign key: aggregator_transaction is partitioned by account on PostgreSQL (see
        # aggregator/migrations/0013), so nothing can reference its id alone. The ORM's collector cascades.
        "aggregator.Transaction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="payment",
        db_constraint=False,
    )
    submit_attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["client_id", "idempotency_key"], name="payment_idempotency_key_per_tpp"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "accepted", "settled", "rejected", "failed"]),
                name="payment_status_valid",
            ),
            currency_check("payment"),
        ]

    def __str__(self) -> str:
        return f"payment {self.public_id} ({self.amount} {self.currency}, {self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class PaymentEvent(models.Model):
    """One step of a payment consent or payment (append-only)."""

    consent = models.ForeignKey(PaymentConsent, on_delete=models.CASCADE, related_name="events")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=40)
    from_status = models.CharField(max_length=32, blank=True)
    to_status = models.CharField(max_length=32, blank=True)
    bank_status = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.from_status or '∅'} → {self.to_status}"

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.pk is not None and not self._state.adding:
            raise ValueError("Payment events are immutable.")
        super().save(*args, **kwargs)
