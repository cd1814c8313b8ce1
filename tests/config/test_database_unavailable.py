"""A database that cannot be reached (PostgreSQL restarting or down) is a 503 with Retry-After, never a 500, and
a database bug stays a 500 (issue 17: the failure behaviour of each dependency)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import InterfaceError, OperationalError, ProgrammingError

from aggregator.db_busy import database_busy


def _django_error(cause: BaseException, cls: type = OperationalError) -> BaseException:
    try:
        try:
            raise cause
        except Exception as inner:
            raise cls(str(inner)) from inner
    except Exception as outer:
        return outer


def _server_error(sqlstate: str, message: str) -> BaseException:
    """The psycopg error class PostgreSQL's SQLSTATE maps to (``errors.lookup``)."""
    return psycopg.errors.lookup(sqlstate)(message)


@pytest.mark.parametrize(
    "error",
    [
        _django_error(psycopg.OperationalError("connection failed: Connection refused")),
        _django_error(psycopg.OperationalError("consuming input failed: server closed the connection")),
        _django_error(_server_error("57P01", "terminating connection due to administrator command")),
        _django_error(_server_error("57P03", "the database system is starting up")),
        _django_error(_server_error("08006", "connection failure")),
        InterfaceError("connection already closed"),
        OperationalError("database is locked"),
    ],
    ids=["refused", "closed", "admin-shutdown", "starting-up", "08006", "closed-interface", "sqlite-locked"],
)
def test_an_unreachable_or_busy_database_is_temporary(error):
    assert database_busy(error) is True


@pytest.mark.parametrize(
    "error",
    [
        _django_error(_server_error("22012", "division by zero")),
        OperationalError("no such table: x"),  # SQLite: a bug, not an outage
        ProgrammingError("syntax error"),
        ValueError("nope"),
    ],
)
def test_a_database_bug_is_not_temporary(error):
    assert database_busy(error) is False


@pytest.mark.django_db
def test_an_api_request_while_the_database_is_unreachable_is_a_503_with_retry_after(monkeypatch, client):
    from aggregator.api import selectors

    def down(**kwargs):  # type: ignore[no-untyped-def]
        raise _django_error(psycopg.OperationalError("connection failed: Connection refused"))

    monkeypatch.setattr(selectors, "account_list_for_consent", down)
    monkeypatch.setattr(
        "aggregator.api.base.ConsentAPIView.initial", lambda self, request, *a, **k: setattr(request, "consent", None)
    )
    response = client.get("/api/v1/accounts")
    assert response.status_code == 503 and response["Retry-After"]
    assert response.json()["errors"][0]["code"] == "temporarily_unavailable"
