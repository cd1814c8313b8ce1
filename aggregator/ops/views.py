"""``/admin/ops/``: the operations page (staff only, through ``admin.site.admin_view``)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from . import selectors
from .charts import bar_chart, line_chart

__all__ = ["ops_dashboard"]

PERIODS = {"24h": (timedelta(hours=24), True, "%H:%M"), "7d": (timedelta(days=7), False, "%d %b")}


def _ops_dashboard(request: HttpRequest) -> HttpResponse:
    period = request.GET.get("period", "24h")
    if period not in PERIODS:
        period = "24h"
    span, hourly, time_format = PERIODS[period]
    now = timezone.now()
    since = now - span
    stats = selectors.bank_sync_stats(since=since)
    series = selectors.bank_sync_series(since=since, hourly=hourly)
    reauth_counts, reauth_recent = selectors.connections_needing_reauth()
    consent_now, consent_series = selectors.consent_status_series(since=now - timedelta(days=30))
    backlog = selectors.webhook_backlog(now=now)
    error_bars = [
        (f"{s.bank} {kind}", count / s.runs) for s in stats for kind, count in s.errors.items() if count and s.runs
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Operations",
        "period": period,
        "periods": list(PERIODS),
        "stats": stats,
        "success_chart": line_chart(
            series, title=f"Sync success rate per bank, last {period}", start=since, end=now, percent=True,
            y_max=1.0, time_format=time_format,
        ),
        "duration_chart": bar_chart(
            [(f"{s.bank} p50", s.p50) for s in stats if s.p50 is not None]
            + [(f"{s.bank} p95", s.p95) for s in stats if s.p95 is not None],
            title=f"Successful sync duration (seconds), last {period}",
        ),
        "error_chart": bar_chart(sorted(error_bars), title=f"Bank errors by kind, share of runs, last {period}",
                                 percent=True),
        "reauth_counts": reauth_counts,
        "reauth_recent": reauth_recent,
        "consent_now": sorted(consent_now.items()),
        "consent_chart": line_chart(
            {status: [(t, float(n)) for t, n in points] for status, points in consent_series.items()},
            title="Consents entering each status per day, last 30 days", start=now - timedelta(days=30), end=now,
        ),
        "backlog": backlog,
    }  # fmt: skip
    return TemplateResponse(request, "ops/dashboard.html", context)


ops_dashboard = admin.site.admin_view(_ops_dashboard)
