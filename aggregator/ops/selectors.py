"""Aggregate queries of the operations page. Each is one grouped query over an index-backed time range
(``SyncRun.queued_at``, ``ConsentEvent.at``, ``WebhookDelivery.status``); percentiles are PostgreSQL's
``percentile_cont`` (computed in Python from the durations elsewhere, i.e. SQLite in development)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection as db
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, FloatField, Min, Q, QuerySet
from django.db.models.functions import Extract, TruncDay, TruncHour
from django.utils import timezone

from aggregator.models import Connection, SyncRun
from aggregator.webhooks.models import WebhookDelivery
from consent.models import Consent, ConsentEvent

__all__ = [
    "ERROR_KINDS",
    "BankSyncStats",
    "bank_error_rates",
    "bank_sync_series",
    "bank_sync_stats",
    "connections_needing_reauth",
    "consent_status_series",
    "webhook_backlog",
]

_FINISHED = [
    SyncRun.Outcome.SUCCEEDED,
    SyncRun.Outcome.FAILED,
    SyncRun.Outcome.RATE_LIMITED,
    SyncRun.Outcome.REAUTH_REQUIRED,
]

# Kinds of bank error, from a sync run's outcome and error code (providers/responses.py, providers/http.py).
ERROR_KINDS: dict[str, Q] = {
    "429": Q(outcome=SyncRun.Outcome.RATE_LIMITED) | Q(error_code__in=["rate_limited", "http_429"]),
    "5xx": Q(error_code__startswith="http_5"),
    "timeout": Q(error_code__in=["timeout", "transport", "connect_failed", "malformed_response"]),
    "auth": Q(outcome=SyncRun.Outcome.REAUTH_REQUIRED) | Q(error_code__in=["unauthorised", "invalid_grant"]),
}


class _Percentile(Aggregate):
    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: object, percentile: float) -> None:
        super().__init__(expression, percentile=percentile)


def _seconds() -> Extract | ExpressionWrapper:
    return Extract(ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()), "epoch")


def _finished_since(since: datetime) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(queued_at__gte=since, outcome__in=_FINISHED)


@dataclass
class BankSyncStats:
    bank: str
    runs: int = 0
    succeeded: int = 0
    p50: float | None = None
    p95: float | None = None
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.runs if self.runs else None


def _percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def bank_sync_stats(*, since: datetime) -> list[BankSyncStats]:
    """Per bank (institution slug): finished runs, successes, p50/p95 duration of successful runs (seconds)."""
    base = _finished_since(since).values(bank=F("connection__institution__slug"))
    rows = base.annotate(runs=Count("id"), succeeded=Count("id", filter=Q(outcome=SyncRun.Outcome.SUCCEEDED)))
    stats = {row["bank"]: BankSyncStats(row["bank"], row["runs"], row["succeeded"]) for row in rows.order_by()}
    timed = _finished_since(since).filter(outcome=SyncRun.Outcome.SUCCEEDED, started_at__isnull=False)
    if db.vendor == "postgresql":
        for row in (
            timed.values(bank=F("connection__institution__slug"))
            .annotate(p50=_Percentile(_seconds(), 0.5), p95=_Percentile(_seconds(), 0.95))
            .order_by()
        ):
            stats[row["bank"]].p50, stats[row["bank"]].p95 = row["p50"], row["p95"]
    else:
        durations: dict[str, list[float]] = defaultdict(list)
        for bank, started, finished in timed.values_list("connection__institution__slug", "started_at", "finished_at"):
            durations[bank].append((finished - started).total_seconds())
        for bank, values in durations.items():
            stats[bank].p50, stats[bank].p95 = _percentile(values, 0.5), _percentile(values, 0.95)
    for bank, kinds in bank_error_rates(since=since).items():
        if bank in stats:
            stats[bank].errors = kinds
    return sorted(stats.values(), key=lambda s: s.bank)


def bank_error_rates(*, since: datetime) -> dict[str, dict[str, int]]:
    """Per bank, finished runs that ended on each kind of bank error (``ERROR_KINDS``)."""
    annotations = {f"k_{kind}": Count("id", filter=q) for kind, q in ERROR_KINDS.items()}
    rows = _finished_since(since).values(bank=F("connection__institution__slug")).annotate(**annotations).order_by()
    return {row["bank"]: {kind: row[f"k_{kind}"] for kind in ERROR_KINDS} for row in rows}


def bank_sync_series(*, since: datetime, hourly: bool) -> dict[str, list[tuple[datetime, float | None]]]:
    """Per bank, the success rate per hour (``hourly``) or day since ``since``, one point per bucket with runs."""
    trunc = TruncHour("queued_at") if hourly else TruncDay("queued_at")
    rows = (
        _finished_since(since)
        .annotate(bucket=trunc)
        .values("bucket", bank=F("connection__institution__slug"))
        .annotate(runs=Count("id"), ok=Count("id", filter=Q(outcome=SyncRun.Outcome.SUCCEEDED)))
        .order_by("bucket")
    )
    series: dict[str, list[tuple[datetime, float | None]]] = defaultdict(list)
    for row in rows:
        series[row["bank"]].append((row["bucket"], row["ok"] / row["runs"] if row["runs"] else None))
    return dict(series)


def connections_needing_reauth(*, limit: int = 20) -> tuple[dict[str, int], list[Connection]]:
    """Counts per bank of connections waiting for their user to reconnect, and the ``limit`` most recent."""
    waiting = Connection.objects.filter(status=Connection.Status.REAUTH_REQUIRED)
    counts = {
        row["bank"]: row["n"]
        for row in waiting.values(bank=F("institution__slug")).annotate(n=Count("id")).order_by("bank")
    }
    recent = list(waiting.select_related("institution", "user").order_by("-updated_at")[:limit])
    return counts, recent


def consent_status_series(*, since: datetime) -> tuple[dict[str, int], dict[str, list[tuple[datetime, int]]]]:
    """Consents by status now, and per day since ``since`` how many consents entered each status."""
    now_counts = {
        row["status"]: row["n"] for row in Consent.objects.values("status").annotate(n=Count("id")).order_by()
    }
    rows = (
        ConsentEvent.objects.filter(at__gte=since, kind=ConsentEvent.Kind.STATUS_CHANGED)
        .annotate(day=TruncDay("at"))
        .values("day", "to_status")
        .annotate(n=Count("id"))
        .order_by("day")
    )
    series: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for row in rows:
        series[row["to_status"]].append((row["day"], row["n"]))
    return now_counts, dict(series)


def webhook_backlog(*, now: datetime | None = None) -> dict[str, object]:
    """Pending deliveries (and how old the oldest is), and deliveries given up in the last 24 h."""
    now = now or timezone.now()
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).aggregate(
        n=Count("id"), oldest=Min("created_at")
    )
    failed = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.FAILED, last_attempt_at__gte=now - timedelta(hours=24)
    ).count()
    oldest = pending["oldest"]
    return {
        "pending": pending["n"],
        "oldest_age_seconds": int((now - oldest).total_seconds()) if oldest else None,
        "failed_24h": failed,
    }
