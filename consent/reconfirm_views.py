"""The reconfirmation page (UK, FCA SCA-RTS Art. 10A): the signed-in user sees, for each of their consents with a
reconfirmation clock, what is shared, with whom and until when, and reconfirms any number of them with one click
(POST, CSRF-protected). Reached from the dashboard and from the link in the warning email
(``/me/consents/reconfirm/?consent=<id>`` ticks that one first)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.http import require_http_methods

from aggregator.compliance.clock import compliance_now

from .clocks import consent_list_reconfirmable, consent_reconfirmation_lapsed
from .reconfirmation import consents_reconfirm
from .services import ConsentStateError
from .views import PERMISSION_TEXT

__all__ = ["consent_reconfirm_view"]


def _items(consents: list[Any], *, wanted: set[str]) -> list[dict[str, Any]]:
    now = compliance_now()
    return [
        {
            "consent": c,
            "permissions": [(p, PERMISSION_TEXT.get(p, p)) for p in c.permissions],
            "accounts": list(c.accounts.all()),
            "lapsed": consent_reconfirmation_lapsed(consent=c, now=now),
            "checked": not wanted or str(c.pk) in wanted,
        }
        for c in consents
    ]


@login_required
@xframe_options_deny
@require_http_methods(["GET", "POST"])
def consent_reconfirm_view(request: HttpRequest) -> HttpResponse:
    consents = list(consent_list_reconfirmable(user=request.user))
    if request.method == "POST":
        chosen = set(request.POST.getlist("consent"))
        selected = [c for c in consents if str(c.pk) in chosen]
        if not selected:
            messages.warning(request, "Tick at least one consent to reconfirm.")
            return redirect("consent:reconfirm")
        try:
            done = consents_reconfirm(user=request.user, consents=selected)
        except ConsentStateError as exc:
            messages.warning(request, f"Nothing was reconfirmed: {exc.messages[0]}")
            return redirect("consent:reconfirm")
        names = ", ".join(sorted({c.application.name for c in done}))
        until = min(c.reconfirm_by for c in done)
        messages.success(request, f"Reconfirmed: {names} can go on reading your data until at least {until:%d %b %Y}.")
        return redirect("consent:dashboard")
    wanted = {v for v in request.GET.getlist("consent") if v}
    response = render(request, "consent/reconfirm.html", {"items": _items(consents, wanted=wanted)})
    response["Cache-Control"] = "no-store"
    return response
