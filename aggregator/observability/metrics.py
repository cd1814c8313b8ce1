"""The application's Prometheus metrics (bank-call metrics live in ``providers.metrics``), and their rendering.

Multi-process mode: with ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts) every gunicorn worker and
Celery worker process writes its samples to files there, and ``/metrics`` aggregates them all
(``prometheus_client.multiprocess.MultiProcessCollector``). Without it each process serves its own registry.
Labels are bounded: an endpoint is a URL route *name*, a bank an institution slug, never a raw path or id.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

__all__ = [
    "API_RATE_LIMITED",
    "CONSENT_TRANSITIONS",
    "CONTENT_TYPE_LATEST",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_SECONDS",
    "SYNCS",
    "SYNC_ROWS",
    "SYNC_SECONDS",
    "TASKS",
    "TASK_QUEUE_WAIT_SECONDS",
    "TASK_SECONDS",
    "WEBHOOK_DELIVERIES",
    "metrics_render",
]

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LONG = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests served, by URL route name, method and status",
    ["endpoint", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request", ["endpoint", "method"], buckets=_LATENCY
)
API_RATE_LIMITED = Counter("api_rate_limited_total", "API requests refused by a throttle (429)", ["endpoint"])

SYNCS = Counter("syncs_total", "Sync runs finished, by bank and outcome", ["bank", "outcome"])
SYNC_SECONDS = Histogram("sync_duration_seconds", "Duration of a sync run", ["bank", "outcome"], buckets=_LONG)
SYNC_ROWS = Counter(
    "sync_rows_total", "Transactions changed by successful syncs, by bank and change", ["bank", "change"]
)

WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries_total",
    "Webhook delivery attempts, by result (delivered, retrying, failed = given up)",
    ["result"],
)
CONSENT_TRANSITIONS = Counter("consent_transitions_total", "Consent status changes", ["from_status", "to_status"])

TASKS = Counter("celery_tasks_total", "Celery tasks run, by task, queue and final state", ["task", "queue", "state"])
TASK_SECONDS = Histogram("celery_task_duration_seconds", "Run time of a Celery task", ["task", "queue"], buckets=_LONG)
TASK_QUEUE_WAIT_SECONDS = Histogram(
    "celery_task_queue_wait_seconds",
    "Time a task waited in its queue, from when it was due (publish time or ETA) to the start of its run",
    ["task", "queue"],
    buckets=_LONG,
)


def _registry(extra: Iterable[Collector]) -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry(auto_describe=True)
        registry.register(_Delegate(REGISTRY))
    for collector in extra:
        registry.register(collector)
    return registry


class _Delegate(Collector):
    """The process registry's metrics inside a scrape-time registry (to add collectors for one scrape)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self):  # type: ignore[no-untyped-def]
        return self._registry.collect()


def metrics_render(extra: Iterable[Collector] = ()) -> bytes:
    """The exposition text of every metric (all processes' in multi-process mode) plus ``extra`` collectors."""
    return generate_latest(_registry(extra))
