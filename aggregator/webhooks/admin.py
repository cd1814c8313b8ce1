"""Webhook log for staff: events with their deliveries, and a "resend" action."""

from __future__ import annotations

from django.contrib import admin, messages

from .models import WebhookDelivery, WebhookEvent
from .services import webhook_delivery_resend


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ("url", "status", "attempts", "response_code", "last_attempt_at", "next_retry_at", "last_error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "application", "created_at")
    list_filter = ("type", "application")
    search_fields = ("id", "application__name")
    readonly_fields = ("id", "application", "type", "payload", "created_at")
    inlines = [WebhookDeliveryInline]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event_type", "event_id", "application", "status", "attempts", "response_code", "created_at")
    list_filter = ("status", "event__type", "event__application")
    search_fields = ("event__id", "url")
    readonly_fields = (
        "event",
        "url",
        "status",
        "attempts",
        "response_code",
        "last_error",
        "last_attempt_at",
        "next_retry_at",
        "delivered_at",
        "created_at",
    )
    actions = ["resend"]
    list_select_related = ("event__application",)

    @admin.display(description="type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    @admin.display(description="event id")
    def event_id(self, obj: WebhookDelivery) -> str:
        return str(obj.event_id)

    @admin.display(description="app")
    def application(self, obj: WebhookDelivery) -> str:
        return str(obj.event.application)

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    @admin.action(description="Resend the selected events (same event id, new delivery)")
    def resend(self, request, queryset) -> None:  # type: ignore[no-untyped-def]
        count = 0
        for delivery in queryset.select_related("event__application"):
            webhook_delivery_resend(delivery=delivery)
            count += 1
        self.message_user(request, f"{count} event(s) queued for redelivery.", messages.SUCCESS)
