"""Shared pytest fixtures. Factories live in ``tests/factories.py``."""

from __future__ import annotations

from typing import Any

import pytest


def _flush_by_delete(original: Any) -> Any:
    """PostgreSQL's test flush as DELETEs in one transaction instead of one TRUNCATE of every table.

    A transactional test (``django_db(transaction=True)``) empties all ~80 tables when it ends. ``TRUNCATE`` gives
    each table new files: about 0.6 s a flush on this project's CI machine, minutes of a CI run. The tables hold a
    test's few rows, so deleting them costs ~12 ms; every foreign key here is DEFERRABLE (the check runs at commit,
    when all are empty). Resetting sequences or cascading to tables left out keeps Django's own statements."""

    def sql_flush(self: Any, style: Any, tables: Any, *, reset_sequences: bool = False, allow_cascade: bool = False):  # type: ignore[no-untyped-def]
        if reset_sequences or allow_cascade or not tables:
            return original(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        names = ", ".join(self.quote_name(t) for t in tables)
        # Locked first, as TRUNCATE locks them: a real worker (integration tests) writing meanwhile waits for the
        # commit instead of inserting a row whose parent this flush has just deleted.
        return [
            f"SET CONSTRAINTS ALL DEFERRED; LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE; "
            + " ".join(f"DELETE FROM {self.quote_name(t)};" for t in tables)
        ]

    return sql_flush


# Single tests of half a minute or more (the abuse matrix) run first: under xdist a long test collected last would
# leave the other worker idle for its whole run at the end of the stage.
_LONG_TESTS_FIRST = ("tests/security/test_abuse.py",)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(_LONG_TESTS_FIRST))  # stable: the rest keep their order


def pytest_configure(config: pytest.Config) -> None:
    from django.db.backends.postgresql.operations import DatabaseOperations

    DatabaseOperations.sql_flush = _flush_by_delete(DatabaseOperations.sql_flush)  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _isolated_cache(settings):  # type: ignore[no-untyped-def]
    """Each test starts with an empty cache (throttles, rate limits)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def unreachable_cache(settings):  # type: ignore[no-untyped-def]
    """The default cache on a Redis that is not there (nothing listens on port 1): a cache outage."""
    previous = settings.CACHES
    backend = "django.core.cache.backends.redis.RedisCache"
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "redis://127.0.0.1:1/7"}}
    yield
    settings.CACHES = previous  # before the shared fixture's cache.clear()


@pytest.fixture
def published_events():  # type: ignore[no-untyped-def]
    """Every domain event published while the test runs (``aggregator.domain_events``), in order."""
    from aggregator.domain_events import subscribe, unsubscribe

    events: list = []
    subscribe(events.append, dispatch_uid="tests.published_events")
    yield events
    unsubscribe("tests.published_events")
