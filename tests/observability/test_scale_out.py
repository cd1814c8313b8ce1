"""Scale-out settings: a queue per kind of work, routes, and the single-beat scheduler."""

from __future__ import annotations

import pytest

from aggregator.config.celery import app


def test_each_kind_of_work_has_its_queue_and_a_plain_worker_consumes_them_all():
    assert {q.name for q in app.conf.task_queues} == {"celery", "sync", "webhooks", "maintenance"}
    route = app.amqp.router.route
    assert route({}, "aggregator.tasks.connection_sync_task")["queue"].name == "sync"
    assert route({}, "webhooks.deliver")["queue"].name == "webhooks"
    assert route({}, "aggregator.tasks.connections_dispatch_task")["queue"].name == "maintenance"
    assert route({}, "aggregator.tasks.sync_runs_reap_task")["queue"].name == "maintenance"
    assert route({}, "some.other.task")["queue"].name == "celery"


def test_every_task_acknowledges_late():
    app.loader.import_default_modules()
    ours = [t for name, t in app.tasks.items() if not name.startswith("celery.")]
    assert ours and all(t.acks_late for t in ours), [t.name for t in ours if not t.acks_late]


@pytest.mark.django_db
def test_on_sqlite_the_single_beat_scheduler_always_leads():
    from aggregator.config.beat import SingleBeatScheduler

    scheduler = SingleBeatScheduler(app=app, lazy=True)
    assert scheduler._lead() is True
