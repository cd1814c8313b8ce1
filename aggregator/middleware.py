"""Request id propagation: every response carries ``X-Request-ID`` (the client's, if it sent a sane one)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

__all__ = ["HeadResponseMiddleware", "RequestIdMiddleware", "request_id_for"]


def request_id_for(request: HttpRequest | Any) -> str:
    """The id of this request (an ``HttpRequest`` or DRF's ``Request``, which proxies it): the client's
    ``X-Request-ID`` when well-formed, else a fresh UUID."""
    existing = getattr(request, "request_id", None)
    if existing:
        return existing
    sent = request.headers.get("X-Request-ID", "")
    request_id = sent if _SAFE_REQUEST_ID.match(sent) else str(uuid.uuid4())
    request.request_id = request_id
    return request_id


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request)
        response = self.get_response(request)
        response.setdefault("X-Request-ID", request_id)
        return response


class HeadResponseMiddleware:
    """A ``HEAD`` answer has the ``GET`` answer's headers and no body (RFC 9110 §9.3.2).

    Django and DRF serve ``HEAD`` with the ``GET`` view and leave the body in the response; a WSGI server that
    writes it anyway puts bytes on a keep-alive connection that the client does not expect, and they corrupt the
    next response on that connection. ``Content-Length`` stays what ``GET`` would send.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method == "HEAD" and not response.streaming:
            length = len(response.content)
            response.content = b""
            response["Content-Length"] = str(length)
        return response
