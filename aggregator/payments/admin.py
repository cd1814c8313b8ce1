"""Admin for payments: read-only (the bank and the services own every change), with the event trail of each
payment consent and payment, and the transaction a payment was reconciled with."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import Payment, PaymentConsent, PaymentEvent


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


class EventInline(admin.TabularInline):
    model = PaymentEvent
    fields = ("at", "kind", "from_status", "to_status", "bank_status", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


class BankFilter(admin.SimpleListFilter):
    title = "bank"
    parameter_name = "bank"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        from_consents = PaymentConsent.objects.exclude(debtor_account=None).values_list(
            "debtor_account__connection__institution__slug", "debtor_account__connection__institution__name"
        )
        return sorted(set(from_consents))

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        if not self.value():
            return queryset
        prefix = "consent__" if queryset.model is Payment else ""
        return queryset.filter(**{f"{prefix}debtor_account__connection__institution__slug": self.value()})


@admin.register(Payment)
class PaymentAdmin(_ReadOnly):
    list_display = ("public_id", "created_at", "amount", "currency", "status", "bank_status", "client_id", "bank")
    list_filter = ("status", BankFilter, "client_id")
    search_fields = ("public_id", "bank_payment_id", "end_to_end_id", "idempotency_key", "consent__public_id")
    date_hierarchy = "created_at"
    list_select_related = ("consent__debtor_account__connection__institution",)
    exclude = ("request_hash",)
    readonly_fields = (
        "public_id",
        "consent_link",
        "client_id",
        "idempotency_key",
        "bank_idempotency_key",
        "status",
        "bank_status",
        "reason_code",
        "reason",
        "bank_payment_id",
        "end_to_end_id",
        "amount",
        "currency",
        "transaction_link",
        "submit_attempts",
        "last_error",
        "created_at",
        "submitted_at",
        "status_changed_at",
        "next_check_at",
    )
    fields = readonly_fields
    inlines = [EventInline]

    @admin.display(description="bank")
    def bank(self, obj: Payment) -> str:
        account = obj.consent.debtor_account
        return account.connection.institution.name if account else ""

    @admin.display(description="payment consent")
    def consent_link(self, obj: Payment) -> str:
        url = reverse("admin:payments_paymentconsent_change", args=[obj.consent_id])
        return format_html('<a href="{}">{}</a>', url, obj.consent.public_id)

    @admin.display(description="reconciled transaction")
    def transaction_link(self, obj: Payment) -> str:
        if obj.transaction_id is None:
            return "— (not reconciled yet)"
        url = reverse("admin:aggregator_transaction_change", args=[obj.transaction_id])
        return format_html('<a href="{}">{}</a>', url, obj.transaction)


@admin.register(PaymentConsent)
class PaymentConsentAdmin(_ReadOnly):
    list_display = ("public_id", "created_at", "amount", "currency", "creditor_name", "status", "client_id")
    list_filter = ("status", BankFilter, "client_id")
    search_fields = ("public_id", "bank_consent_id", "end_to_end_id", "creditor_name", "reference")
    date_hierarchy = "created_at"
    # Bank-side secrets are never shown, not even encrypted.
    exclude = ("encrypted_authorization", "encrypted_credentials", "bank_state")
    inlines = [EventInline]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [f.name for f in PaymentConsent._meta.fields if f.name not in self.exclude]
