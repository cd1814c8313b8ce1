"""POST /consents/{id}/refresh and GET /syncs/{id}: queued syncs, per-consent limit, the bank's own limit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from aggregator.models import Connection, SyncRun
from tests.factories import SyncRunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch):  # type: ignore[no-untyped-def]
    sent: list[int] = []
    monkeypatch.setattr(
        "aggregator.tasks.enqueue_connection_sync", lambda *, sync_run_id, countdown=0: sent.append(sync_run_id)
    )
    return sent


def _refresh(api, consent):  # type: ignore[no-untyped-def]
    return api.post(f"/api/v1/consents/{consent.pk}/refresh")


def test_refresh_queues_a_sync_and_answers_202_with_its_id(
    api, consent, shared_account, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _refresh(api, consent)
    assert response.status_code == 202, response.content
    data = response.json()["data"]
    run = SyncRun.objects.get(public_id=data["id"])
    assert run.trigger == "api" and run.connection == shared_account.connection
    assert data["state"] == "queued"
    assert response.json()["meta"]["sync_ids"] == [data["id"]]
    assert enqueued == [run.pk]
    state = api.get(f"/api/v1/syncs/{data['id']}").json()["data"]
    assert state["state"] == "queued" and state["counts"] == {"added": 0, "modified": 0, "removed": 0}


def test_refresh_is_limited_per_consent_with_retry_after(api, consent, enqueued):
    for _ in range(3):
        assert _refresh(api, consent).status_code == 202
    response = _refresh(api, consent)
    assert response.status_code == 429
    assert response.json()["errors"][0]["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 3600
    assert SyncRun.objects.count() == 3


def test_refresh_never_exceeds_the_banks_unattended_limit(api, consent, shared_account, monkeypatch, enqueued):
    monkeypatch.setattr("aggregator.api.services.unattended_limit_for", lambda connection: 4)
    connection = shared_account.connection
    oldest = timezone.now() - dt.timedelta(hours=20)
    for i in range(4):
        run = SyncRunFactory(connection=connection, trigger="scheduled", outcome="succeeded")
        SyncRun.objects.filter(pk=run.pk).update(queued_at=oldest + dt.timedelta(hours=i))
    response = _refresh(api, consent)
    assert response.status_code == 429
    assert response.json()["errors"][0]["code"] == "bank_limit_reached"
    assert 4 * 3600 - 60 <= int(response["Retry-After"]) <= 4 * 3600 + 1
    assert not SyncRun.objects.filter(trigger="api").exists()


def test_the_berlin_group_adapter_declares_its_daily_limit(shared_account):
    from aggregator.api.services import unattended_limit_for

    shared_account.connection.institution.provider = "berlin_group"
    assert unattended_limit_for(shared_account.connection) == 4


def test_refresh_without_an_active_connection_is_409(api, consent, shared_account, enqueued):
    Connection.objects.filter(pk=shared_account.connection_id).update(status="reauth_required")
    response = _refresh(api, consent)
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "connection_unavailable"
