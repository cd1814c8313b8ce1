"""The admin site: ``ADMIN_URL`` (settings), sign-in through ``consent.account_views.GuardedLoginMixin`` (backoff
per username and address, proof-of-work challenge under attack, like the people's login) and, when
``ADMIN_REQUIRE_2FA`` is on (production by default), a TOTP code from a django-otp device: only a session that
was verified by a device reaches the admin, so a staff member signed in on the people's login page is asked for
the code too. Devices are enrolled with ``manage.py admin_totp_enrol`` (prints a QR code), or by a verified staff
member on the admin's TOTP device page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm

from consent.account_views import GuardedLoginMixin

__all__ = ["AdminLoginView", "AdminOTPLoginForm", "AggregatorAdminSite", "admin_requires_2fa"]


def admin_requires_2fa() -> bool:
    return bool(getattr(settings, "ADMIN_REQUIRE_2FA", False))


class AdminOTPLoginForm(OTPAdminAuthenticationForm):
    """django-otp's admin form, where a staff member with a single authenticator need not pick it from a list
    first (django-otp asks for an explicit device so that a wrong code never counts against the other devices;
    with one device there is nothing to choose)."""

    def _chosen_device(self, user):  # type: ignore[no-untyped-def]
        device = super()._chosen_device(user)
        if device is None and not self.cleaned_data.get("otp_device"):
            devices = list(devices_for_user(user, confirmed=True, for_verify=True))
            if len(devices) == 1:
                return devices[0]
        return device


class AdminLoginView(GuardedLoginMixin, LoginView):
    """The admin's login form, with the OTP fields when a second factor is required."""

    template_name = "admin/guarded_login.html"

    def get_form_class(self):  # type: ignore[no-untyped-def]
        return AdminOTPLoginForm if admin_requires_2fa() else AdminAuthenticationForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["otp_required"] = admin_requires_2fa()
        return context


class AggregatorAdminSite(admin.AdminSite):
    site_header = "Open Banking Aggregator administration"
    site_title = "Aggregator admin"

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        return not admin_requires_2fa() or bool(getattr(request.user, "is_verified", lambda: False)())

    @method_decorator(never_cache)
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # AdminSite.login with our view (Django's admin builds the same context).
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        context = {
            **self.each_context(request),
            "title": "Log in",
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
        }
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        context.update(extra_context or {})
        request.current_app = self.name
        return AdminLoginView.as_view(extra_context=context)(request)
