"""Admin: third-party apps (with write-only webhook secret) and the consent review (read-only + revoke action)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from oauth2_provider.admin import ApplicationAdmin as DotApplicationAdmin
from oauth2_provider.forms import ApplicationForm as DotApplicationForm

from .models import AccessLogEntry, Application, Consent, ConsentEvent
from .services import ConsentStateError, consent_revoke


class ConsentEventInline(admin.TabularInline):
    model = ConsentEvent
    fields = ("at", "actor_type", "actor_user", "from_status", "to_status", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


class ExpiringSoonFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiring"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        return [("7d", "Expiring within 7 days"), ("past", "Past expiry")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Consent]) -> QuerySet[Consent]:
        now = timezone.now()
        if self.value() == "7d":
            return queryset.filter(
                status=Consent.Status.AUTHORISED, expires_at__gt=now, expires_at__lte=now + dt.timedelta(days=7)
            )
        if self.value() == "past":
            return queryset.filter(expires_at__lte=now)
        return queryset


class RevokeReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}), required=True)


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "application", "user", "expires_at", "last_accessed_at", "created_at")
    list_filter = ("status", ExpiringSoonFilter, "application")
    search_fields = ("id", "user__username", "user__email", "application__name", "application__client_id")
    readonly_fields = [f.name for f in Consent._meta.fields] + ["accounts"]
    inlines = [ConsentEventInline]
    list_select_related = ("application", "user")
    actions = ["revoke_consents"]

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False  # the audit trail stays; revoke instead

    def get_search_results(self, request, queryset, search_term):  # type: ignore[no-untyped-def]
        # "id" is a UUID: searching it with icontains on other terms would error on PostgreSQL.
        import uuid

        try:
            uuid.UUID(search_term.strip())
        except ValueError:
            self.search_fields = ("user__username", "user__email", "application__name", "application__client_id")
        else:
            self.search_fields = ("=id",)
        try:
            return super().get_search_results(request, queryset, search_term)
        finally:
            self.search_fields = ConsentAdmin.search_fields

    @admin.action(description="Revoke selected consents (asks for a reason)", permissions=["change"])
    def revoke_consents(self, request: HttpRequest, queryset: QuerySet[Consent]) -> HttpResponse | None:
        form = RevokeReasonForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            done = skipped = 0
            for consent in queryset:
                try:
                    consent_revoke(
                        consent=consent, actor_type="staff", actor_user=request.user, reason=form.cleaned_data["reason"]
                    )
                    done += 1
                except ConsentStateError:
                    skipped += 1
            self.message_user(request, f"Revoked {done} consent(s).", messages.SUCCESS)
            if skipped:
                self.message_user(request, f"Skipped {skipped} consent(s) that were not active.", messages.WARNING)
            return None
        return TemplateResponse(
            request,
            "consent/admin/revoke_reason.html",
            {
                **self.admin_site.each_context(request),
                "title": "Revoke consents",
                "consents": queryset,
                "form": form,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )


class TppApplicationForm(DotApplicationForm):
    new_webhook_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave blank to keep the current secret.",
    )

    class Meta:
        model = Application
        fields = [
            "name",
            "client_id",
            "client_type",
            "authorization_grant_type",
            "client_secret",
            "hash_client_secret",
            "redirect_uris",
            "skip_authorization",
            "webhook_url",
        ]

    def save(self, commit: bool = True) -> Application:
        app = super().save(commit=False)
        if self.cleaned_data.get("new_webhook_secret"):
            app.webhook_secret = self.cleaned_data["new_webhook_secret"]
        if commit:
            app.save()
            self.save_m2m()
        return app


if admin.site.is_registered(Application):
    admin.site.unregister(Application)


@admin.register(Application)
class TppApplicationAdmin(DotApplicationAdmin):
    form = TppApplicationForm
    list_display = ("name", "client_id", "client_type", "authorization_grant_type", "webhook_url", "has_webhook_secret")

    @admin.display(boolean=True, description="webhook secret set")
    def has_webhook_secret(self, obj: Application) -> bool:
        return bool(obj.webhook_secret)


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "application", "consent", "method", "endpoint", "status_code")
    list_filter = ("status_code", "application")
    search_fields = ("endpoint", "request_id")
    readonly_fields = [f.name for f in AccessLogEntry._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
