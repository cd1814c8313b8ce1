from __future__ import annotations

import pytest
from celery import Celery
from django.db import connection

from aggregator.config import health as views

pytestmark = pytest.mark.django_db


def test_healthz_answers_200_when_database_and_broker_are_reachable(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True, "detail": connection.vendor}
    assert body["checks"]["broker"]["ok"] is True
    assert response["X-Request-ID"]


def test_healthz_answers_503_when_the_broker_is_unreachable(client, monkeypatch):
    # Celery lets CELERY_BROKER_URL from the environment win over the constructor argument.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    # Not the current app: the rest of the run sends tasks through current_app.
    unreachable = Celery("unreachable", broker="redis://127.0.0.1:1/0", set_as_current=False)
    monkeypatch.setattr(views, "celery_app", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_healthz_answers_503_when_the_database_is_unreachable(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False


def test_healthz_echoes_a_well_formed_request_id(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response["X-Request-ID"] == "abc-123"


def test_healthz_replaces_a_malformed_request_id(client):
    response = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 36


def test_healthz_reports_the_cache(client):
    assert client.get("/healthz").json()["checks"]["cache"]["ok"] is True


def test_healthz_answers_503_when_the_cache_is_unreachable(client, unreachable_cache):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_livez_answers_200_whatever_the_dependencies(client, unreachable_cache, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
