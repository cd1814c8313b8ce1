"""Queue depth at scrape time: a collector asking the broker how many messages wait in each of our queues.

One passive ``queue_declare`` per queue on one short-lived broker connection (Redis: ``LLEN``; RabbitMQ: the
declare-ok's message count), cached for a few seconds so frequent scrapes cost the broker nothing more. A broker
that cannot be reached yields no sample and ``celery_queue_depth_up 0`` instead of an error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator

from celery import current_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["QueueDepthCollector", "queue_depths"]

logger = logging.getLogger(__name__)

_CACHE_SECONDS = 5.0
_cache: tuple[float, dict[str, int] | None] = (0.0, None)
_lock = threading.Lock()


def _queue_names() -> list[str]:
    queues = current_app.conf.task_queues
    if queues:
        return [queue.name for queue in queues]
    return [current_app.conf.task_default_queue or "celery"]


def queue_depths(names: Iterable[str] | None = None) -> dict[str, int] | None:
    """``{queue: messages waiting}`` or ``None`` when the broker cannot be asked now."""
    global _cache
    with _lock:
        at, cached = _cache
        if names is None and cached is not None and time.monotonic() - at < _CACHE_SECONDS:
            return cached
        depths: dict[str, int] | None = {}
        try:
            with current_app.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
                channel = connection.default_channel
                for name in names or _queue_names():
                    try:
                        depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
                    except Exception:  # the queue was never declared: nothing waits in it
                        depths[name] = 0
                        channel = connection.channel()
        except Exception as exc:
            logger.warning("queue depth: broker unreachable (%s)", type(exc).__name__)
            depths = None
        if names is None:
            _cache = (time.monotonic(), depths)
        return depths


class QueueDepthCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        depths = queue_depths()
        up = GaugeMetricFamily("celery_queue_depth_up", "1 when the broker answered the queue-depth query")
        up.add_metric([], 0.0 if depths is None else 1.0)
        yield up
        gauge = GaugeMetricFamily("celery_queue_depth", "Messages waiting in a Celery queue", labels=["queue"])
        for name, depth in sorted((depths or {}).items()):
            gauge.add_metric([name], float(depth))
        yield gauge
