"""Operational endpoints: ``/healthz`` is readiness (the database, the cache and the broker all answer; 503
otherwise, so a load balancer stops sending traffic and an operator sees which dependency is down), ``/livez`` is
liveness (this process answers; no dependency is checked, so an orchestrator does not restart healthy processes
because Redis or PostgreSQL is down)."""

from __future__ import annotations

import uuid

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from .celery import app as celery_app

__all__ = ["healthz", "livez"]


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not reachable"
        return False, f"{type(exc).__name__}: {exc}"
    return True, connection.vendor


def _cache_ok() -> tuple[bool, str]:
    """A write and a read back: the throttles and the login lockout need both."""
    key, token = "healthz:cache", uuid.uuid4().hex
    try:
        cache.set(key, token, timeout=10)
        if cache.get(key) != token:
            return False, "value written was not read back"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, type(cache).__name__


def _broker_ok() -> tuple[bool, str]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            return True, conn.transport.driver_type
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Readiness as JSON: 200 when the database, the cache and the broker all answer, 503 otherwise."""
    db_ok, db_detail = _database_ok()
    cache_ok, cache_detail = _cache_ok()
    broker_ok, broker_detail = _broker_ok()
    healthy = db_ok and cache_ok and broker_ok
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {
            "database": {"ok": db_ok, "detail": db_detail},
            "cache": {"ok": cache_ok, "detail": cache_detail},
            "broker": {"ok": broker_ok, "detail": broker_detail},
        },
    }
    return JsonResponse(body, status=200 if healthy else 503)


@require_GET
def livez(request: HttpRequest) -> JsonResponse:
    """Liveness: the process serves requests. Checks no dependency (that is ``/healthz``)."""
    return JsonResponse({"status": "ok"})
