"""``GET /metrics``: the Prometheus exposition, for the scraper only.

Allowed when the request carries ``Authorization: Bearer <METRICS_TOKEN>`` (compared in constant time), or comes
from an address inside ``METRICS_ALLOWED_NETWORKS`` (CIDRs; the peer address ``REMOTE_ADDR``, never a forwarded
header). Neither configured: nobody. Otherwise 403, with no hint of which check failed.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from ..conf import aggregator_settings
from .metrics import CONTENT_TYPE_LATEST, metrics_render
from .queues import QueueDepthCollector

__all__ = ["metrics_allowed", "metrics_view"]


def metrics_allowed(request: HttpRequest) -> bool:
    token = str(aggregator_settings.METRICS_TOKEN or "")
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
            return True
    networks = aggregator_settings.METRICS_ALLOWED_NETWORKS or ()
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(network, strict=False) for network in networks)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    response = HttpResponse(metrics_render([QueueDepthCollector()]), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
