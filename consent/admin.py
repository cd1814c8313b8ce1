"""Admin for third-party apps and consents (consent review is extended by the consent flow)."""

from __future__ import annotations

from django.contrib import admin

from .models import AccessLogEntry, Consent, ConsentEvent


class ConsentEventInline(admin.TabularInline):
    model = ConsentEvent
    fields = ("at", "actor_type", "actor_user", "from_status", "to_status", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "application", "user", "expires_at", "last_accessed_at")
    list_filter = ("status", "application")
    search_fields = ("id", "user__username", "user__email", "application__name", "application__client_id")
    readonly_fields = [f.name for f in Consent._meta.fields] + ["accounts"]
    inlines = [ConsentEventInline]
    list_select_related = ("application", "user")

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "application", "consent", "method", "endpoint", "status_code")
    list_filter = ("status_code", "application")
    search_fields = ("consent__id", "endpoint", "request_id")
    readonly_fields = [f.name for f in AccessLogEntry._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
