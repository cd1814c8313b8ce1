"""The user's privacy page (/me/privacy/): ask for an export and follow its progress, download it through a
signed link that expires, and read the access log (which app read what, under which consent), paginated."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.http import require_http_methods

from aggregator.models import Account
from consent.access_text import access_describe
from consent.views import error_page

from .export import data_export_path, data_export_request
from .links import ExportLinkError, ExportLinkExpiredError, export_download_path, export_from_token
from .models import DataExport
from .selectors import user_access_log, user_exports

__all__ = ["ACCESS_LOG_PAGE_SIZE", "access_log_page", "export_download", "privacy_page"]

ACCESS_LOG_PAGE_SIZE = 50


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@login_required
@xframe_options_deny
@require_http_methods(["GET", "POST"])
def privacy_page(request: HttpRequest) -> HttpResponse:
    """GET: the user's exports (status, progress, link); POST: ask for a new one."""
    if request.method == "POST":
        running = user_exports(user=request.user).filter(
            status__in=[DataExport.Status.QUEUED, DataExport.Status.RUNNING]
        )
        if running.exists():
            messages.info(request, "An export of your data is already being prepared.")
        else:
            data_export_request(user=request.user, requested_by="user")
            messages.success(request, "Your export is being prepared. This page shows its progress.")
        return redirect("privacy")
    exports: list[dict[str, Any]] = []
    for export in user_exports(user=request.user)[:10]:
        link = export_download_path(export) if export.status == DataExport.Status.DONE else ""
        exports.append({"export": export, "link": link})
    return _no_store(render(request, "privacy/privacy.html", {"exports": exports}))


@login_required
@xframe_options_deny
def access_log_page(request: HttpRequest) -> HttpResponse:
    """Every data request of an app under one of the user's consents, newest first, 50 a page."""
    page = Paginator(user_access_log(user=request.user), ACCESS_LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    names = {
        str(a.public_id): a.display_name or a.provider_account_id
        for a in Account.objects.filter(connection__user=request.user).only(
            "public_id", "display_name", "provider_account_id"
        )
    }
    rows = [{"entry": e, "what": access_describe(endpoint=e.endpoint, account_names=names)} for e in page.object_list]
    return _no_store(render(request, "privacy/access_log.html", {"page": page, "rows": rows}))


@login_required
def export_download(request: HttpRequest, token: str) -> HttpResponse:
    """The archive of a signed link, for its user or staff; an expired link says so (410)."""
    try:
        export = export_from_token(token=token, user=request.user)
    except ExportLinkExpiredError as exc:
        return error_page(request, "Download link expired", str(exc), status=410)
    except ExportLinkError as exc:
        return error_page(request, "Download not available", str(exc), status=404)
    path = data_export_path(export)
    if path is None or not path.is_file():
        return error_page(request, "Download link expired", "This archive no longer exists.", status=410)
    response = FileResponse(path.open("rb"), as_attachment=True, filename=f"my-data-{export.created_at:%Y%m%d}.zip")
    return _no_store(response)
