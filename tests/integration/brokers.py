"""The two brokers the fleet tests run on (Redis and RabbitMQ), and what they read from a broker — through
kombu, so the same code reads a Redis list and a RabbitMQ queue.

* ``require_rabbitmq_broker()`` — ``RABBITMQ_BROKER_URL`` (default ``amqp://guest:guest@127.0.0.1:5672//``), checked
  reachable; skips with the reason, or fails under ``REQUIRE_INTEGRATION=1``, as ``require_redis_broker`` does.
* ``celery_app_on(url)`` — this process's Celery app (the dispatcher's sends, ``app.control.purge()``) switched
  to another broker for a test, and back.
* ``BrokerQueue`` — one named queue: its length (``queue_declare``: Redis ``LLEN``, RabbitMQ's message count)
  and its deletion, over one kombu connection.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from kombu import Connection, Queue

from tests.integration import require_redis_broker, skip_or_fail

__all__ = ["BROKERS", "BrokerQueue", "broker_url", "celery_app_on", "require_rabbitmq_broker"]

BROKERS = ("redis", "rabbitmq")
RABBITMQ_DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672//"


def require_rabbitmq_broker() -> str:
    url = os.environ.get("RABBITMQ_BROKER_URL") or RABBITMQ_DEFAULT_URL
    if not url.startswith(("amqp://", "pyamqp://", "amqps://")):
        skip_or_fail(f"needs a RabbitMQ broker: RABBITMQ_BROKER_URL must be amqp://…, not {url.split(':')[0]}://…")
    shown = Connection(url).as_uri()  # the password masked
    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        skip_or_fail(f"needs RabbitMQ at {shown} (set RABBITMQ_BROKER_URL): {type(exc).__name__}: {exc}")
    return url


def broker_url(name: str) -> str:
    """The URL of the broker ``name`` ("redis" or "rabbitmq"), or a skip/failure saying what is missing."""
    return require_rabbitmq_broker() if name == "rabbitmq" else require_redis_broker()


@contextmanager
def celery_app_on(url: str) -> Iterator[None]:
    """This process's Celery app on ``url`` for the block (Celery reads ``CELERY_BROKER_URL`` from the environment
    before its configuration, so both change), its connection and producer pools rebuilt for it, then restored."""
    from aggregator.config.celery import app

    saved_env = os.environ.get("CELERY_BROKER_URL")
    saved = app.conf.broker_url, app.conf.broker_transport_options

    def switch(to: str, options: dict) -> None:
        os.environ["CELERY_BROKER_URL"] = to
        app.conf.broker_url = to
        app.conf.broker_transport_options = options
        app._pool = None  # rebuilt lazily from the new URL (kombu's pools are keyed by connection)
        app.amqp._producer_pool = None

    # Redis's transport options (visibility_timeout) mean nothing to RabbitMQ.
    switch(url, saved[1] if url.startswith(("redis://", "rediss://")) else {})
    try:
        yield
    finally:
        switch(saved[0], saved[1])
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env


class BrokerQueue:
    """One queue on a broker, over one connection: ``len()`` is the messages waiting in it (declaring it if
    needed, durable like Celery's own queues), ``delete()`` removes it. Use as a context manager."""

    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self._connection = Connection(url)
        self._queue = Queue(name, durable=True)

    def __enter__(self) -> BrokerQueue:
        self._connection.ensure_connection(max_retries=3)
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.release()

    def __len__(self) -> int:
        return int(self._queue(self._connection.default_channel).queue_declare().message_count)

    def delete(self) -> None:
        self._queue(self._connection.default_channel).delete()
