"""Pages for people: login (rate-limited), the consent dashboard with revocation, connected banks (disconnect)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.http import require_http_methods

from aggregator.compliance.clock import compliance_now
from aggregator.compliance.sca import connection_reauthenticate_by
from aggregator.insights.selectors import recurring_outflows_for_user, spending_by_category
from aggregator.models import Connection
from aggregator.payments.selectors import payment_consents_approved_by

from .access_text import access_rows_describe
from .clocks import consent_reauthentication, consent_reconfirmation_lapsed
from .demo import DEMO_USERS
from .disconnect import BankRevocation, connection_dependent_consents, connection_disconnect
from .login_guard import (
    challenge_issue,
    challenge_verify,
    login_check,
    login_failure_record,
    login_success_record,
)
from .models import Consent
from .selectors import consent_access_summary, consent_events_for, consent_list_for_user, user_connections
from .services import ConsentStateError, consent_revoke
from .spending_chart import spending_svg
from .views import PERMISSION_TEXT

__all__ = [
    "GuardedLoginMixin",
    "RateLimitedLoginView",
    "connection_disconnect_view",
    "consent_dashboard",
    "consent_dashboard_ended",
    "consent_revoke_view",
    "home",
]

logger = logging.getLogger(__name__)


class GuardedLoginMixin:
    """Sign-in protection of ``consent.login_guard`` for a ``LoginView``: a (username, address) pair in backoff
    is refused (429, Retry-After) before its password is checked; an address or username under attack must send
    a solved proof-of-work challenge (the page carries one, solved by ``consent/login-challenge.js`` when needed)."""

    request: HttpRequest

    def _username(self) -> str:
        return str(self.request.POST.get("username", ""))[:254]

    def _refuse(self, message: str, *, retry_after: int | None) -> HttpResponse:
        form = self.get_form_class()(self.request, initial={"username": self._username()})  # type: ignore[attr-defined]
        response = self.render_to_response(  # type: ignore[attr-defined]
            self.get_context_data(form=form, login_refusal=message)  # type: ignore[attr-defined]
        )
        response.status_code = 429
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        decision = login_check(request=request, username=self._username())
        if decision.locked_seconds:
            return self._refuse(
                "Too many failed sign-in attempts for this username from your network. "
                f"Try again in {decision.locked_seconds} seconds.",
                retry_after=decision.locked_seconds,
            )
        if decision.challenge_required and not challenge_verify(
            token=str(request.POST.get("challenge", "")), solution=str(request.POST.get("challenge_solution", ""))
        ):
            return self._refuse(
                "Many sign-ins failed from your network or for this username: your browser must complete a short "
                "check before signing in (this needs JavaScript). Please sign in again.",
                retry_after=None,
            )
        return super().post(request, *args, **kwargs)  # type: ignore[misc]

    def form_invalid(self, form):  # type: ignore[no-untyped-def]
        login_failure_record(request=self.request, username=self._username())
        return super().form_invalid(form)  # type: ignore[misc]

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        login_success_record(request=self.request, username=self._username())
        return super().form_valid(form)  # type: ignore[misc]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)  # type: ignore[misc]
        context["login_challenge"] = challenge_issue()
        # The page's script solves the challenge only when the server will ask for it (known for the address
        # now; for a targeted username once it was posted), so nobody else waits or spends CPU on it.
        context["login_challenge_required"] = login_check(
            request=self.request, username=self._username()
        ).challenge_required
        return context


@method_decorator(xframe_options_deny, name="dispatch")
class RateLimitedLoginView(GuardedLoginMixin, auth_views.LoginView):
    """The people's sign-in page (consent screen, dashboard), protected by ``GuardedLoginMixin``."""

    template_name = "consent/login.html"
    redirect_authenticated_user = False

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
    events = consent_events_for(consent_ids=[c.pk for c in consents])
    now = compliance_now()
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
                "events": events.get(str(c.pk), []),
                # The compliance clocks (docs/compliance.md): "reconfirm by …", "re-authenticate with … by …".
                "reconfirm_lapsed": consent_reconfirmation_lapsed(consent=c, now=now),
                "reauthentication": consent_reauthentication(consent=c),
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
        # The payments the user approved (the newest 20), with their status now.
        "payments": list(payment_consents_approved_by(user=request.user)[:20]),
        "recurring": list(recurring_outflows_for_user(user_id=request.user.pk)[:50]),
        "connections": [
            {
                "connection": conn,
                "reauth": conn.status == Connection.Status.REAUTH_REQUIRED,
                "reauthenticate_by": connection_reauthenticate_by(conn),
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
