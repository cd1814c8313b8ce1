"""The sandbox index page (banks, test users, demo clients) and Liberty's OpenAPI file."""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import bankdata
from .models import SandboxClient
from .oauth.views import BANK_TITLES

__all__ = ["index", "liberty_openapi"]

API_BASES = {
    "albion": "/sandbox/albion/open-banking/v3.1/aisp/",
    "rhein": "/sandbox/rhein/v1/",
    "liberty": "/sandbox/liberty/",
}
LIBERTY_OPENAPI = Path(__file__).resolve().parent / "openapi" / "liberty.yaml"


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    banks = [
        {
            "slug": slug,
            "title": BANK_TITLES[slug],
            "api_base": request.build_absolute_uri(API_BASES[slug]),
            "metadata": f"/sandbox/{slug}/.well-known/oauth-authorization-server",
        }
        for slug in bankdata.BANKS
    ]
    clients = SandboxClient.objects.order_by("bank", "client_id")
    return render(request, "sandbox/index.html", {"banks": banks, "users": bankdata.all_users(), "clients": clients})


@require_GET
def liberty_openapi(request: HttpRequest) -> FileResponse:
    return FileResponse(LIBERTY_OPENAPI.open("rb"), content_type="application/yaml")
