"""Celery task instrumentation through Celery's signals (connected on import, from ``AggregatorConfig.ready``).

* ``before_task_publish`` stamps the message with its publish time (header ``published_at``, epoch seconds);
* ``task_prerun`` measures the queue wait — from the later of publish time and ETA (a countdown is not waiting)
  — and binds the log context (``task``, ``task_id``, and ``delivery_id`` from the task's id
  argument);
* ``task_postrun`` records the run time and final state and clears the context.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from typing import Any

from celery import signals

from .context import log_context_bind, log_context_clear
from .metrics import TASK_QUEUE_WAIT_SECONDS, TASK_SECONDS, TASKS

__all__ = ["ID_ARGUMENT_FIELDS"]

# First positional argument of our tasks that names what they work on, for the log context.
# (The sync task binds the run's public id itself, in ``aggregator.observability.syncs``.)
ID_ARGUMENT_FIELDS = {"webhooks.deliver": "delivery_id"}

_started: dict[str, float] = {}


@signals.before_task_publish.connect(weak=False, dispatch_uid="observability.publish_time")
def _stamp_publish_time(sender: str | None = None, headers: dict | None = None, **kwargs: Any) -> None:
    if headers is not None:
        headers.setdefault("published_at", time.time())


def _queue_of(task: Any) -> str:
    info = getattr(task.request, "delivery_info", None) or {}
    return str(info.get("routing_key") or info.get("exchange") or "celery")


def _due_at(task: Any) -> float | None:
    published = getattr(task.request, "published_at", None)
    if published is None:
        return None
    due = float(published)
    eta = getattr(task.request, "eta", None)
    if eta:
        with contextlib.suppress(ValueError):
            due = max(due, datetime.fromisoformat(str(eta)).timestamp())
    return due


@signals.task_prerun.connect(weak=False, dispatch_uid="observability.prerun")
def _task_prerun(task_id: str | None = None, task: Any = None, args: Any = None, **kwargs: Any) -> None:
    if task is None:
        return
    now = time.time()
    _started[task_id or ""] = time.monotonic()
    due = _due_at(task)
    if due is not None:
        TASK_QUEUE_WAIT_SECONDS.labels(task=task.name, queue=_queue_of(task)).observe(max(now - due, 0.0))
    log_context_clear()
    fields: dict[str, Any] = {"task": task.name, "task_id": task_id}
    field = ID_ARGUMENT_FIELDS.get(task.name)
    if field and args:
        fields[field] = args[0]
    log_context_bind(**fields)


@signals.task_postrun.connect(weak=False, dispatch_uid="observability.postrun")
def _task_postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    started = _started.pop(task_id or "", None)
    if task is not None:
        queue = _queue_of(task)
        TASKS.labels(task=task.name, queue=queue, state=state or "UNKNOWN").inc()
        if started is not None:
            TASK_SECONDS.labels(task=task.name, queue=queue).observe(time.monotonic() - started)
    log_context_clear()
