"""Pages for people: login (rate-limited), the consent dashboard with revocation, connected banks (disconnect)."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.http import require_http_methods

from aggregator.insights.selectors import recurring_outflows_for_user, spending_by_category
from aggregator.models import Connection

from .access_text import access_rows_describe
from .conf import consent_settings
from .demo import DEMO_USERS
from .disconnect import BankRevocation, connection_dependent_consents, connection_disconnect
from .models import Consent
from .selectors import consent_access_summary, consent_list_for_user, user_connections
from .services import ConsentStateError, consent_revoke
from .spending_chart import spending_svg
from .views import PERMISSION_TEXT

__all__ = [
    "RateLimitedLoginView",
    "connection_disconnect_view",
    "consent_dashboard",
    "consent_dashboard_ended",
    "consent_revoke_view",
    "home",
]

logger = logging.getLogger(__name__)

# The login lockout's counters when the shared cache is down (see _failures_*): this process's own memory.
_local_failures = LocMemCache("consent-login-failures", {"MAX_ENTRIES": 100_000})


def _failures_get(key: str) -> int:
    try:
        return cache.get(key, 0)
    except Exception as exc:  # the cache backend's own errors (redis ConnectionError, TimeoutError, …)
        _cache_failed(exc)
        return _local_failures.get(key, 0)


def _failures_add(key: str, ttl: int) -> None:
    try:
        _count(cache, key, ttl)
    except Exception as exc:
        _cache_failed(exc)
        _count(_local_failures, key, ttl)


def _failures_clear(key: str) -> None:
    _local_failures.delete(key)
    try:
        cache.delete(key)
    except Exception as exc:
        _cache_failed(exc)


def _count(store: Any, key: str, ttl: int) -> None:
    store.add(key, 0, ttl)
    try:
        store.incr(key)
    except ValueError:
        store.set(key, 1, ttl)


def _cache_failed(exc: Exception) -> None:
    """The lockout fails open onto a per-process counter: failing closed would lock every user out while the
    cache is down, and ignoring failures would let password guessing run unlimited. Each process keeps the
    same limits in its own memory, so during an outage a guesser gets at most (processes * limit) attempts."""
    logger.warning("login lockout: cache unavailable, counting in this process (%s: %s)", type(exc).__name__, exc)


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _login_key(request: HttpRequest, username: str) -> str:
    digest = hashlib.sha256(f"{_client_ip(request)}|{username.strip().lower()}".encode()).hexdigest()
    return f"consent:login-failures:{digest}"


def _ip_key(request: HttpRequest) -> str:
    return f"consent:login-failures-ip:{hashlib.sha256(_client_ip(request).encode()).hexdigest()}"


@method_decorator(xframe_options_deny, name="dispatch")
class RateLimitedLoginView(auth_views.LoginView):
    """Django's login view with a cache-based lockout per (client IP, username), and a looser one per IP."""

    template_name = "consent/login.html"
    redirect_authenticated_user = False

    def _limits(self) -> tuple[int, int]:
        return int(consent_settings.LOGIN_MAX_FAILURES), int(consent_settings.LOGIN_LOCKOUT_SECONDS)

    def _locked(self, username: str) -> bool:
        max_failures, _ = self._limits()
        return (_failures_get(_login_key(self.request, username)) >= max_failures) or (
            _failures_get(_ip_key(self.request)) >= max_failures * 10
        )

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username", "")
        if self._locked(username):
            response = render(
                request,
                "consent/error.html",
                {
                    "title": "Too many attempts",
                    "message": "Too many failed sign-in attempts. Wait a few minutes and try again.",
                },
                status=429,
            )
            response["Retry-After"] = str(self._limits()[1])
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):  # type: ignore[no-untyped-def]
        _, lockout = self._limits()
        for key in (_login_key(self.request, self.request.POST.get("username", "")), _ip_key(self.request)):
            _failures_add(key, lockout)
        return super().form_invalid(form)

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        _failures_clear(_login_key(self.request, self.request.POST.get("username", "")))
        return super().form_valid(form)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["demo_users"] = DEMO_USERS if settings.DJANGO_ENV == "local" else []
        return context


def home(request: HttpRequest) -> HttpResponse:
    return redirect("consent:dashboard")


# Consents per page of the dashboard (active) and of the ended-consents page: a page stays a few screens long.
DASHBOARD_PAGE_SIZE = 10
ENDED_PAGE_SIZE = 20
SPENDING_DAYS = 90


def _account_label(account: Any) -> str:
    return account.display_name or f"account {account.masked_identifier or account.provider_account_id}"


def _consent_items(request: HttpRequest, consents: list[Consent]) -> list[dict[str, Any]]:
    summary: dict[str, list[dict[str, Any]]] = {}
    since = timezone.now().date() - timedelta(days=SPENDING_DAYS)
    for row in consent_access_summary(user=request.user, consent_ids=[c.pk for c in consents]):
        summary.setdefault(str(row["consent_id"]), []).append(row)
    items = []
    for c in consents:
        accounts = list(c.accounts.all())
        names = {str(a.public_id): _account_label(a) for a in accounts}
        items.append(
            {
                "consent": c,
                "permissions": [(p, PERMISSION_TEXT.get(p, p)) for p in c.permissions],
                "accounts": accounts,
                "access": access_rows_describe(rows=summary.get(str(c.pk), []), account_names=names),
                "active": c.status == Consent.Status.AUTHORISED,
                "spending": spending_svg(
                    spending_by_category(accounts=c.accounts.all(), since=since),
                    title=f"Spending by category in the last {SPENDING_DAYS} days",
                ),
            }
        )
    return items


def _render_no_store(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    response = render(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@xframe_options_deny
def consent_dashboard(request: HttpRequest) -> HttpResponse:
    """Consents in force (paginated), the connected banks, and a link to the consents that ended."""
    page = Paginator(consent_list_for_user(user=request.user, state="active"), DASHBOARD_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "consents": _consent_items(request, list(page.object_list)),
        "ended_count": consent_list_for_user(user=request.user, state="ended").count(),
        "recurring": list(recurring_outflows_for_user(user_id=request.user.pk)[:50]),
        "connections": [
            {
                "connection": conn,
                "reauth": conn.status == Connection.Status.REAUTH_REQUIRED,
                "reconnect_url": f"/connect/{conn.institution.slug}/start/?next=/me/consents/",
                "disconnect_url": reverse("consent:disconnect", args=[conn.public_id]),
            }
            for conn in user_connections(user=request.user)
        ],
    }
    return _render_no_store(request, "consent/dashboard.html", context)


@login_required
@xframe_options_deny
def consent_dashboard_ended(request: HttpRequest) -> HttpResponse:
    """Consents that ended (revoked, expired, denied), most recently ended first, paginated."""
    page = Paginator(consent_list_for_user(user=request.user, state="ended"), ENDED_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return _render_no_store(
        request, "consent/dashboard_ended.html", {"page": page, "consents": _consent_items(request, list(page))}
    )


@login_required
@xframe_options_deny
@require_http_methods(["GET", "POST"])
def connection_disconnect_view(request: HttpRequest, connection_id: str) -> HttpResponse:
    """Confirmation page listing the consents that end with the connection; POST disconnects."""
    connection = (
        Connection.objects.select_related("institution")
        .filter(public_id=connection_id, user=request.user)
        .exclude(status=Connection.Status.DISCONNECTED)
        .first()
    )
    if connection is None:
        raise Http404("No such bank connection.")
    if request.method == "POST":
        result = connection_disconnect(connection=connection, user=request.user)
        name = connection.institution.name
        ended = len(result.revoked_consents)
        summary = f"{name} is disconnected." + (
            f" {ended} consent{'s' if ended != 1 else ''} that shared its accounts ended." if ended else ""
        )
        if result.bank == BankRevocation.REVOKED:
            messages.success(request, summary + f" {name} was told to end our access too.")
        elif result.bank == BankRevocation.NOT_SUPPORTED:
            messages.success(
                request, summary + f" {name} offers no way for us to end its consent: you can end it in your bank's"
                " own online banking.",
            )  # fmt: skip
        else:
            messages.warning(
                request, summary + f" We could not reach {name} to end its consent there; we deleted every access"
                " token we held, and you can also end it in your bank's own online banking.",
            )  # fmt: skip
        return redirect("consent:dashboard")
    context = {
        "connection": connection,
        "accounts": list(connection.accounts.filter(removed_at__isnull=True).order_by("display_name", "id")),
        "consents": [
            {"consent": c, "accounts": [a for a in c.accounts.all() if a.connection_id == connection.pk]}
            for c in connection_dependent_consents(connection=connection)
        ],
    }
    return _render_no_store(request, "consent/disconnect_confirm.html", context)


@login_required
@xframe_options_deny
@require_http_methods(["GET", "POST"])
def consent_revoke_view(request: HttpRequest, consent_id: str) -> HttpResponse:
    consent = Consent.objects.select_related("application").filter(pk=consent_id, user=request.user).first()
    if consent is None:
        raise Http404("No such consent.")
    if request.method == "POST":
        try:
            consent_revoke(
                consent=consent,
                actor_type="user",
                actor_user=request.user,
                reason=request.POST.get("reason", "").strip()[:500] or "Revoked by the user on the dashboard.",
            )
        except ConsentStateError:
            messages.info(request, "This consent was no longer active.")
        else:
            messages.success(request, f"{consent.application.name} can no longer access your data.")
        return redirect("consent:dashboard")
    return render(request, "consent/revoke_confirm.html", {"consent": consent})
