"""Integration tests: real PostgreSQL, real HTTP, a real Celery worker with a Redis broker.

They skip (with the reason) on a machine without those services, so ``make test`` passes on bare SQLite; CI sets
``REQUIRE_INTEGRATION=1`` to turn every such skip into a failure.
"""

from __future__ import annotations

import os

import pytest

__all__ = ["require_postgres", "require_redis_broker", "skip_or_fail"]


def skip_or_fail(reason: str) -> None:
    if os.environ.get("REQUIRE_INTEGRATION") == "1":
        pytest.fail(f"integration prerequisite missing (REQUIRE_INTEGRATION=1): {reason}", pytrace=False)
    pytest.skip(reason)


def require_postgres() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://…")


def require_redis_broker() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        skip_or_fail("needs a Redis broker: set CELERY_BROKER_URL=redis://…")
    return url
