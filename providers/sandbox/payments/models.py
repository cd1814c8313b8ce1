"""The sandbox banks' payment rows: every payment initiated at albion (OBIE) or rhein (Berlin Group), and the
idempotency keys that protect their creation. Registered from ``providers.sandbox.models``.

A payment is a persisted row, so it survives restarts and every process (web server, worker, tests) sees it.
Its status is never stored as a moving value: the row holds the moments its life is decided by
(``submitted_at``, ``pending_until``, ``settles_at``, ``rejected_at``) and :mod:`.lifecycle` reads the status at
any sandbox moment from them, so advancing the sandbox clock moves every payment at once.
"""

from __future__ import annotations

from django.db import models

__all__ = ["SandboxIdempotencyKey", "SandboxPayment"]

BANK_CHOICES = [("albion", "Albion (OBIE)"), ("rhein", "Rhein (Berlin Group)")]


class SandboxPayment(models.Model):
    """One payment instruction at one bank.

    * albion: created with its ``domestic(-scheduled)-payment-consent`` (``consent``; ``submitted_at`` empty
      until the TPP posts the payment itself with the authorised consent).
    * rhein: created by ``POST /v1/payments/{product}`` (status ``RCVD``); ``consent`` is its authorisation
      (the PSU's SCA, bank-side consent row of kind ``payment`` whose id is the payment id); the SCA releases it
      (``submitted_at``).
    """

    id = models.CharField(primary_key=True, max_length=64)  # DomesticPaymentId / paymentId
    bank = models.CharField(max_length=16, choices=BANK_CHOICES)
    product = models.CharField(max_length=48)  # domestic-payments | domestic-scheduled-payments | sepa-… | instant-…
    client = models.ForeignKey("sandbox.SandboxClient", null=True, blank=True, on_delete=models.CASCADE)
    consent = models.OneToOneField(
        "sandbox.SandboxConsent", null=True, blank=True, on_delete=models.CASCADE, related_name="payment"
    )
    username = models.CharField(max_length=64, blank=True)  # the debtor, once known
    debtor_account_id = models.CharField(max_length=64, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=5)
    currency = models.CharField(max_length=3)
    creditor_name = models.CharField(max_length=350)
    creditor_scheme = models.CharField(max_length=40)  # UK.OBIE.SortCodeAccountNumber | UK.OBIE.IBAN | iban
    creditor_identification = models.CharField(max_length=256)
    reference = models.CharField(max_length=140, blank=True)
    end_to_end_id = models.CharField(max_length=35, blank=True)
    instruction_id = models.CharField(max_length=35, blank=True)
    requested_execution_at = models.DateTimeField(null=True, blank=True)  # scheduled payments
    # The instruction exactly as the TPP sent it (OBIE Initiation / Berlin Group body), echoed back, and Risk.
    initiation = models.JSONField(default=dict)
    risk = models.JSONField(default=dict)
    created_at = models.DateTimeField()  # sandbox time
    submitted_at = models.DateTimeField(null=True, blank=True)  # the bank took it for execution
    pending_until = models.DateTimeField(null=True, blank=True)  # Pending / PDNG until then (``slow`` users)
    settles_at = models.DateTimeField(null=True, blank=True)  # booked on the debtor account then
    rejected_at = models.DateTimeField(null=True, blank=True)
    reason_code = models.CharField(max_length=16, blank=True)  # ISO 20022 status reason (AM04, BE01, …)
    reason = models.CharField(max_length=256, blank=True)

    class Meta:
        indexes = [models.Index(fields=["bank", "username", "debtor_account_id"], name="sandbox_pay_debtor")]

    def __str__(self) -> str:
        return f"{self.bank}:{self.id} {self.amount} {self.currency}"


class SandboxIdempotencyKey(models.Model):
    """A key a TPP sent with a creating request (OBIE ``x-idempotency-key``, rhein ``X-Request-ID``): the same
    key and the same body give the same resource back; the same key with another body is refused. Scoped by
    bank, client (or ``""`` for rhein's certificate-identified TPPs) and endpoint; valid 24 h of sandbox time."""

    bank = models.CharField(max_length=16, choices=BANK_CHOICES)
    client_key = models.CharField(max_length=100, blank=True)
    endpoint = models.CharField(max_length=64)
    key = models.CharField(max_length=64)
    body_hash = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=64)
    created_at = models.DateTimeField()  # sandbox time
    answered = models.BooleanField(default=False)  # False: accepted, but the first answer never went out

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bank", "client_key", "endpoint", "key"], name="sandbox_idempotency_unique")
        ]

    def __str__(self) -> str:
        return f"{self.bank}:{self.endpoint}:{self.key}"
