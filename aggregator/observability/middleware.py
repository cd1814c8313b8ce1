"""Per-request observability: the log context (``request_id``; the API binds ``tpp`` and ``consent_id`` once it
knows them) and the request metrics, labelled by URL route *name* (``api-transactions``), never the raw path."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ..middleware import request_id_for
from .context import log_context_bind, log_context_clear
from .metrics import API_RATE_LIMITED, HTTP_REQUEST_SECONDS, HTTP_REQUESTS

__all__ = ["ObservabilityMiddleware", "route_name"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_name(request: HttpRequest) -> str:
    """The matched route's name (namespaced), its pattern when unnamed, or ``unmatched`` (a 404 before routing)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    if match.url_name:
        return match.view_name
    return match.route or "unnamed"


class ObservabilityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        log_context_clear()
        log_context_bind(request_id=request_id_for(request))
        # Not cleared on the way out: Django logs a 4xx/5xx ("django.request") after every middleware returned,
        # and that line should carry the context too. The next request on this thread starts afresh (above).
        try:
            response = self.get_response(request)
        except Exception:
            self._observe(request, 500, started)
            raise
        self._observe(request, response.status_code, started)
        return response

    @staticmethod
    def _observe(request: HttpRequest, status: int, started: float) -> None:
        endpoint = route_name(request)
        method = request.method if request.method in _METHODS else "OTHER"
        HTTP_REQUESTS.labels(endpoint=endpoint, method=method, status=str(status)).inc()
        HTTP_REQUEST_SECONDS.labels(endpoint=endpoint, method=method).observe(time.perf_counter() - started)
        if status == 429:
            API_RATE_LIMITED.labels(endpoint=endpoint).inc()
