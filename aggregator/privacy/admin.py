"""Admin: exports (status, progress, download link) and erasure records (read-only), and two actions on users —
export their data (queued for the worker) and erase it (after a confirmation page)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html

from .erasure import user_erase, user_is_erased
from .export import data_export_request
from .links import export_download_path
from .models import DataExport, ErasureRecord

User = get_user_model()


@admin.register(DataExport)
class DataExportAdmin(admin.ModelAdmin):
    list_display = ("public_id", "user", "requested_by", "status", "percent", "created_at", "expires_at", "download")
    list_filter = ("status", "requested_by")
    readonly_fields = [f.name for f in DataExport._meta.fields] + ["download"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Download")
    def download(self, obj: DataExport) -> str:
        if obj.status != DataExport.Status.DONE:
            return "—"
        return format_html('<a href="{}">archive</a>', export_download_path(obj))


@admin.register(ErasureRecord)
class ErasureRecordAdmin(admin.ModelAdmin):
    list_display = ("subject", "erased_at", "requested_by")
    readonly_fields = ("subject", "erased_at", "requested_by", "counts")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.action(description="Export all personal data of the selected users (GDPR Art. 15/20)")
def export_personal_data(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    for user in queryset:
        data_export_request(user=user, requested_by="staff")
    modeladmin.message_user(
        request, f"{queryset.count()} export(s) queued: follow them under Privacy › Data exports.", messages.SUCCESS
    )


@admin.action(description="Erase personal data of the selected users (GDPR Art. 17)…")
def erase_personal_data(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    users = [u for u in queryset if not user_is_erased(user=u)]
    if request.POST.get("confirm") != "yes":
        return TemplateResponse(
            request,
            "privacy/admin_erase_confirm.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": "Erase personal data?",
                "users": users,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": modeladmin.model._meta,
            },
        )
    for user in users:
        user_erase(user=user, requested_by="staff", actor_user=request.user)
    modeladmin.message_user(request, f"{len(users)} user(s) erased.", messages.SUCCESS)
    return None


# The user admin as registered by django.contrib.auth (or a project), with the two actions added.
_base = type(admin.site.get_model_admin(User)) if admin.site.is_registered(User) else admin.ModelAdmin


class PrivacyUserAdmin(_base):  # type: ignore[misc, valid-type]
    actions = [*(getattr(_base, "actions", None) or []), export_personal_data, erase_personal_data]


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, PrivacyUserAdmin)
