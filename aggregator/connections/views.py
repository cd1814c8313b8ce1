"""The bank connect flow over HTTP: a start URL that redirects to the bank, and the callback it returns to.

Thin views: they validate the request, call ``aggregator.connections.services`` and render. Every failure
renders a clear error page with a 4xx/502 status (never a 500).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..client_address import client_address
from ..models import Institution
from ..payments.consents import payment_consent_for_bank_state
from .models import PendingAuthorization
from .services import ConnectError, connection_connect_complete, connection_connect_start, safe_next_url

__all__ = ["connect_callback", "connect_start"]

logger = logging.getLogger(__name__)

DEFAULT_NEXT_URL = "/me/consents/"


def _client_ip(request: HttpRequest) -> str:
    return client_address(request)


def _error(request: HttpRequest, *, code: str, message: str, status: int, next_url: str = "") -> HttpResponse:
    return render(
        request,
        "connections/connect_error.html",
        {"code": code, "message": message, "next_url": safe_next_url(next_url) or DEFAULT_NEXT_URL},
        status=status,
    )


@never_cache
@require_GET
@login_required
def connect_start(request: HttpRequest, institution_slug: str) -> HttpResponse:
    next_url = request.GET.get("next", "")
    institution = Institution.objects.filter(slug=institution_slug, is_active=True).first()
    if institution is None:
        return _error(
            request, code="unknown_institution", message="This bank is not available.", status=404, next_url=next_url
        )
    redirect_uri = request.build_absolute_uri(reverse("connections:connect-callback"))
    try:
        url = connection_connect_start(
            user=request.user,
            institution=institution,
            redirect_uri=redirect_uri,
            next_url=next_url,
            psu_ip_address=_client_ip(request),
        )
    except ConnectError as exc:
        return _error(request, code=exc.code, message=str(exc), status=exc.status, next_url=next_url)
    return HttpResponseRedirect(url)


def _with_connection(next_url: str, public_id: str) -> str:
    parts = urlsplit(next_url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(("", "", parts.path, query + urlencode({"connection": public_id}), parts.fragment))


@never_cache
@require_GET
@login_required
def connect_callback(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    if state and payment_consent_for_bank_state(state=state) is not None:
        # The bank's SCA of a payment comes back to the same registered redirect URI: the payment's own callback
        # (consent screen, which then answers the TPP) takes it from here.
        return HttpResponseRedirect(reverse("consent:payment-callback") + "?" + request.GET.urlencode())
    next_url = (
        PendingAuthorization.objects.filter(state=state[:128], user=request.user)
        .values_list("next_url", flat=True)
        .first()
        if state
        else ""
    ) or ""
    try:
        connection = connection_connect_complete(
            state=state,
            code=request.GET.get("code") or None,
            error=request.GET.get("error") or None,
            error_description=request.GET.get("error_description") or None,
            user=request.user,
            psu_ip_address=_client_ip(request),
        )
    except ConnectError as exc:
        return _error(request, code=exc.code, message=str(exc), status=exc.status, next_url=next_url)
    return HttpResponseRedirect(
        _with_connection(safe_next_url(next_url) or DEFAULT_NEXT_URL, str(connection.public_id))
    )
