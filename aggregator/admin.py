"""Admin for the normalized data. Synced data is read-only: it belongs to the banks, not to staff."""

from __future__ import annotations

from django.contrib import admin

from .compliance.admin_filters import ReauthenticationDueFilter
from .models import Account, Balance, Connection, Institution, SyncRun, Transaction


class ReadOnlyAdmin(admin.ModelAdmin):
    """Synced rows can be inspected, never edited or created by hand."""

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "country", "provider", "is_active")
    list_filter = ("provider", "country", "is_active")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class AccountInline(admin.TabularInline):
    model = Account
    fields = ("display_name", "type", "currency", "masked_identifier", "removed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("public_id", "user", "institution", "status", "last_synced_at", "last_sca_at", "next_sync_at")
    list_filter = ("status", ReauthenticationDueFilter, "institution")
    search_fields = ("public_id", "user__username", "user__email", "institution__name", "upstream_consent_id")
    # Credentials are never shown, not even encrypted.
    exclude = ("encrypted_credentials",)
    readonly_fields = (
        "public_id",
        "user",
        "institution",
        "upstream_consent_id",
        "upstream_consent_expires_at",
        "credentials_expire_at",
        "last_synced_at",
        "last_sca_at",
        "sync_cursor",
        "sync_state",
        "last_error",
        "created_at",
        "updated_at",
    )
    list_select_related = ("user", "institution")
    inlines = [AccountInline]


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("display_name", "type", "currency", "masked_identifier", "connection", "removed_at")
    list_filter = ("type", "currency", "connection__institution")
    search_fields = ("public_id", "display_name", "provider_account_id", "holder_name")
    exclude = ("iban", "account_number", "masked_pan", "account_number_mask")
    readonly_fields = ("masked_identifier",)
    list_select_related = ("connection__institution", "connection__user")


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ("account", "type", "amount", "currency", "as_of", "credit_line_included")
    list_filter = ("type", "currency")
    search_fields = ("account__display_name", "account__public_id")
    list_select_related = ("account",)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("booking_date", "amount", "currency", "status", "description", "merchant_name", "account")
    list_filter = ("status", "currency", "category")
    search_fields = ("public_id", "provider_transaction_id", "description", "merchant_name", "counterparty_name")
    date_hierarchy = "booking_date"
    list_select_related = ("account",)
    show_full_result_count = False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "public_id",
        "connection",
        "trigger",
        "outcome",
        "started_at",
        "duration_seconds",
        "added_count",
        "modified_count",
        "removed_count",
    )
    list_filter = ("outcome", "trigger", "connection__institution")
    search_fields = ("public_id", "connection__public_id", "error_code", "error_detail")
    list_select_related = ("connection__institution", "connection__user")
