"""A configurable delay on every sandbox bank call (``SANDBOX_LATENCY_MS``), to model a real bank's latency.

Real banks answer in hundreds of milliseconds; the sandbox in a few. ``SANDBOX_LATENCY_MS=250`` makes every
request under ``/sandbox/<bank>/`` (OAuth and data endpoints; not the sandbox's index page) wait that long
before it is served, without touching the database while it waits. Read per request, so tests and benchmarks
can change it. ``python -m benchmarks fleet`` uses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

__all__ = ["SandboxLatencyMiddleware", "sandbox_latency_seconds"]


def sandbox_latency_seconds() -> float:
    return max(float(getattr(settings, "SANDBOX_LATENCY_MS", 0) or 0), 0.0) / 1000.0


class SandboxLatencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        delay = sandbox_latency_seconds()
        if delay and request.path.startswith("/sandbox/") and request.path.count("/") > 2:
            time.sleep(delay)
        return self.get_response(request)
