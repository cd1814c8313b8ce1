"""Admin: third-party apps (with write-only webhook secret) and the consent review (read-only + revoke action)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from oauth2_provider.admin import ApplicationAdmin as DotApplicationAdmin
from oauth2_provider.forms import ApplicationForm as DotApplicationForm

from aggregator.compliance.admin_filters import CLOCK_FILTER_CHOICES, clock_window

from .models import AccessLogEntry, Application, Consent, ConsentEvent
from .services import ConsentStateError, consent_revoke
from .tpp import client_keys_validate, webhook_url_validate

# The grant types a TPP registration can use (see consent.oauth.ConsentOAuth2Validator.validate_grant_type).
TPP_GRANT_TYPES = (Application.GRANT_AUTHORIZATION_CODE, Application.GRANT_CLIENT_CREDENTIALS)


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


class ReconfirmationDueFilter(admin.SimpleListFilter):
    """Authorised consents whose UK reconfirmation is due within 7 days, or overdue (compliance clock)."""

    title = "reconfirmation"
    parameter_name = "reconfirm"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        return CLOCK_FILTER_CHOICES

    def queryset(self, request: HttpRequest, queryset: QuerySet[Consent]) -> QuerySet[Consent]:
        window = clock_window(self.value())
        if window is None:
            return queryset
        start, end = window
        queryset = queryset.filter(status=Consent.Status.AUTHORISED, reconfirm_by__lte=end)
        return queryset.filter(reconfirm_by__gt=start) if start is not None else queryset


class TppGrantTypeFilter(admin.SimpleListFilter):
    """Only the grant types a TPP can use here (the token endpoint refuses implicit, password, device code…)."""

    title = "grant type"
    parameter_name = "grant_type"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        return [(value, label) for value, label in Application.GRANT_TYPES if value in TPP_GRANT_TYPES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Application]) -> QuerySet[Application]:
        if self.value() in TPP_GRANT_TYPES:
            return queryset.filter(authorization_grant_type=self.value())
        return queryset


class RevokeReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}), required=True)


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    # Short columns so the list fits a 1400 px screen beside the filters: the id is shortened (full id on hover
    # and on the detail page), creation time is on the detail page.
    list_display = ("short_id", "status", "application", "user", "expires_at", "last_accessed_at")
    list_display_links = ("short_id",)
    list_filter = ("status", ExpiringSoonFilter, ReconfirmationDueFilter, "application")
    search_fields = ("id", "user__username", "user__email", "application__name", "application__client_id")
    readonly_fields = ["permissions_text" if f.name == "permissions" else f.name for f in Consent._meta.fields] + [
        "accounts"
    ]
    fields = readonly_fields  # the raw JSON permissions field is not shown, only its plain-words version
    inlines = [ConsentEventInline]
    list_select_related = ("application", "user")
    actions = ["revoke_consents"]

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False  # the audit trail stays; revoke instead

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: Consent) -> str:
        return format_html('<span title="{}">{}…</span>', obj.pk, str(obj.pk)[:8])

    @admin.display(description="permissions")
    def permissions_text(self, obj: Consent) -> str:
        labels = dict(Consent.Permission.choices)
        return ", ".join(labels.get(p, p) for p in obj.permissions) or "none"

    def change_view(self, request, object_id, form_url="", extra_context=None):  # type: ignore[no-untyped-def]
        # Every field is read-only (changes go through the revoke action): no Save buttons to mislead.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

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
            "profile",
            "jwks",
            "jwks_uri",
        ]

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        field = self.fields.get("authorization_grant_type")
        if field is not None:
            current = getattr(self.instance, "authorization_grant_type", "")
            field.choices = [(v, label) for v, label in field.choices if v in TPP_GRANT_TYPES or v == current]

    def clean_webhook_url(self) -> str:
        url = self.cleaned_data.get("webhook_url") or ""
        return webhook_url_validate(url) if url else url

    def clean(self) -> dict:  # type: ignore[type-arg]
        cleaned = super().clean()
        try:
            client_keys_validate(
                profile=cleaned.get("profile") or Application.Profile.BASELINE,
                jwks=cleaned.get("jwks"),
                jwks_uri=cleaned.get("jwks_uri") or "",
            )
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from exc
        return cleaned

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
    # Fits 1400 px beside the filters: the client id is shortened and the webhook URL shown by its host (both in
    # full on hover and on the detail page); the client type is a filter.
    list_display = (
        "name", "short_client_id", "profile", "authorization_grant_type", "webhook_host", "has_webhook_secret",
    )  # fmt: skip
    search_fields = ("name", "=client_id")
    # DOT's own filters offer grant types (implicit, password, device code) and flags our OAuth server ignores.
    list_filter = ("profile", "client_type", TppGrantTypeFilter)

    # The stored client secret is a hash: showing it helps nobody and hands an offline-guessing target to whoever
    # sees the page. A secret is issued once, by ``create_tpp``; an existing app's page does not offer the field.
    SECRET_FIELDS = ("client_secret", "hash_client_secret")

    def get_fields(self, request: HttpRequest, obj: Application | None = None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        return [f for f in fields if f not in self.SECRET_FIELDS] if obj is not None else fields

    @admin.display(description="client id", ordering="client_id")
    def short_client_id(self, obj: Application) -> str:
        return format_html('<span title="{}">{}…</span>', obj.client_id, obj.client_id[:10])

    @admin.display(description="webhook", ordering="webhook_url")
    def webhook_host(self, obj: Application) -> str:
        return (
            format_html('<span title="{}">{}</span>', obj.webhook_url, urlsplit(obj.webhook_url).netloc)
            if obj.webhook_url
            else ""
        )

    @admin.display(boolean=True, description="secret")
    def has_webhook_secret(self, obj: Application) -> bool:
        return bool(obj.webhook_secret_encrypted)  # never decrypted for a page


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
