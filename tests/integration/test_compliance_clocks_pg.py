"""The compliance clocks on PostgreSQL with a real worker: a connection made through the sandbox bank's real OAuth
flow records its SCA; the periodic task, sent twice to the worker, warns once at T-14; on day 180 the worker's run
pauses the connection and the dispatcher leaves it alone."""

from __future__ import annotations

import time
from unittest import mock

import pytest
from django.utils import timezone

from aggregator.compliance.clock import compliance_now
from aggregator.models import Connection
from aggregator.sync.dispatch import connections_dispatch_due
from consent.models import ClockWarning

from .sync_helpers import connect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TASK = "consent.tasks.compliance_clocks_task"


def _wait_for(condition, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError("the worker did not get there in time")


def test_the_worker_warns_once_before_day_180_and_pauses_the_connection_on_day_180(sandbox, celery_worker):
    from aggregator.config.celery import app
    from providers.sandbox.testing import advance_clock

    connection = connect("rhein", "alice")
    assert abs(connection.last_sca_at - compliance_now()).total_seconds() < 60
    warnings = ClockWarning.objects.filter(subject_id=str(connection.public_id))

    advance_clock(days=170)
    app.send_task(TASK)
    app.send_task(TASK)
    _wait_for(lambda: warnings.exists())
    time.sleep(2)  # the second run, queued behind the first on the solo worker, has had its turn
    assert [(w.kind, w.stage) for w in warnings] == [("connection.reauth_due", "T-14")]

    advance_clock(days=10)
    app.send_task(TASK)
    _wait_for(lambda: Connection.objects.get(pk=connection.pk).status == Connection.Status.REAUTH_REQUIRED)
    Connection.objects.filter(pk=connection.pk).update(next_sync_at=timezone.now())
    with mock.patch("aggregator.sync.services.enqueue_connection_sync") as enqueue:
        assert connections_dispatch_due(now=timezone.now()) == []
    enqueue.assert_not_called()
