"""POST /consents/{id}/refresh and GET /syncs/{id}: queued syncs, per-consent limit, the bank's own limit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from aggregator.models import Connection, SyncRun
from aggregator.sync.budget import budget_record, syncs_per_day

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch):  # type: ignore[no-untyped-def]
    sent: list[int] = []
    monkeypatch.setattr(
        "aggregator.sync.services.enqueue_connection_sync", lambda *, sync_run_id, countdown=0: sent.append(sync_run_id)
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


def _at_bank(connection, provider):  # type: ignore[no-untyped-def]
    institution = connection.institution
    institution.provider = provider
    institution.save(update_fields=["provider"])


def test_refresh_never_exceeds_the_banks_unattended_limit(api, consent, shared_account, enqueued):
    """rhein (Berlin Group) allows 4 counted calls a day and a sync spends 2: 2 syncs a day. Two recorded in the
    last 24 hours → 429 until the older one leaves the window (the engine's own rule, aggregator.sync.budget)."""
    connection = shared_account.connection
    _at_bank(connection, "berlin_group")
    now = timezone.now()
    for hours_ago in (20, 19):
        budget_record(connection, now=now - dt.timedelta(hours=hours_ago))
    connection.save(update_fields=["sync_state"])
    response = _refresh(api, consent)
    assert response.status_code == 429
    assert response.json()["errors"][0]["code"] == "bank_limit_reached"
    assert 4 * 3600 - 60 <= int(response["Retry-After"]) <= 4 * 3600 + 120
    assert not SyncRun.objects.filter(trigger="api").exists()


@pytest.mark.parametrize(("provider", "accepted"), [("berlin_group", 2), ("obie", 3), ("cursor_delta", 3)])
def test_a_refresh_the_bank_would_not_allow_today_is_429_never_a_202_that_ends_skipped(
    api, consent, shared_account, enqueued, provider, accepted
):
    """At each sandbox bank: refreshes are accepted while the bank's allowance (counting the syncs already queued)
    lasts — rhein 2 a day; albion and liberty set no limit, so only our 3-an-hour throttle stops them."""
    _at_bank(shared_account.connection, provider)
    statuses = [_refresh(api, consent).status_code for _ in range(4)]
    assert statuses == [202] * accepted + [429] * (4 - accepted)
    assert SyncRun.objects.filter(trigger="api").count() == accepted


def test_the_berlin_group_adapter_declares_its_daily_limit():
    from providers.registry import adapter_class

    assert adapter_class("berlin_group").unattended_calls_per_day == 4
    assert syncs_per_day(adapter_class("berlin_group")) == 2
    assert syncs_per_day(adapter_class("obie")) is None


def test_refresh_without_an_active_connection_is_409(api, consent, shared_account, enqueued):
    Connection.objects.filter(pk=shared_account.connection_id).update(status="reauth_required")
    response = _refresh(api, consent)
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "connection_unavailable"


@pytest.fixture
def broker_down(monkeypatch):  # type: ignore[no-untyped-def]
    """The broker refuses every task (what kombu raises when Redis is unreachable)."""
    from kombu.exceptions import OperationalError

    def refuse(*, sync_run_id, countdown=0, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("aggregator.sync.services.enqueue_connection_sync", refuse)


@pytest.mark.django_db(transaction=True)  # the enqueue runs at the real commit, inside the request
def test_a_broker_outage_answers_503_with_retry_after_and_strands_no_sync_run(
    api, consent, shared_account, broker_down
):
    response = _refresh(api, consent)
    assert response.status_code == 503, response.content
    assert response.json()["errors"][0]["code"] == "temporarily_unavailable"
    assert int(response["Retry-After"]) > 0
    assert not SyncRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_when_the_broker_fails_mid_way_only_the_unsent_runs_are_rolled_back(monkeypatch, shared_account):
    from kombu.exceptions import OperationalError

    from aggregator.exceptions import ServiceUnavailableError
    from aggregator.sync.services import sync_request_many
    from tests.factories import ConnectionFactory

    sent: list[int] = []

    def first_only(*, sync_run_id, countdown=0, **kwargs):  # type: ignore[no-untyped-def]
        if sent:
            raise OperationalError("connection refused")
        sent.append(sync_run_id)

    monkeypatch.setattr("aggregator.sync.services.enqueue_connection_sync", first_only)
    connections = [shared_account.connection, ConnectionFactory(), ConnectionFactory()]
    with pytest.raises(ServiceUnavailableError), transaction.atomic():
        sync_request_many(connections=connections, trigger="api")
    assert list(SyncRun.objects.values_list("pk", flat=True)) == sent


def test_refresh_requests_refused_with_415_do_not_spend_the_allowance(api, consent, enqueued):
    for _ in range(3):
        response = api.generic("POST", f"/api/v1/consents/{consent.pk}/refresh", "x", content_type="text/plain")
        assert response.status_code == 415
    assert _refresh(api, consent).status_code == 202


def test_get_on_refresh_is_405_even_when_the_allowance_is_spent(api, consent, enqueued):
    assert api.get(f"/api/v1/consents/{consent.pk}/refresh").status_code == 405
    for _ in range(3):
        assert _refresh(api, consent).status_code == 202
    response = api.get(f"/api/v1/consents/{consent.pk}/refresh")
    assert response.status_code == 405 and response.json()["errors"][0]["code"] == "method_not_allowed"


def test_refresh_of_an_unknown_consent_is_404_and_not_counted(api, consent, enqueued):
    for _ in range(4):
        response = api.post("/api/v1/consents/00000000-0000-0000-0000-000000000000/refresh")
        assert response.status_code == 404
    for _ in range(3):
        assert _refresh(api, consent).status_code == 202
    assert _refresh(api, consent).status_code == 429


def test_refresh_refused_by_the_service_is_not_counted(api, consent, shared_account, enqueued):
    Connection.objects.filter(pk=shared_account.connection_id).update(status="reauth_required")
    for _ in range(3):
        assert _refresh(api, consent).status_code == 409
    Connection.objects.filter(pk=shared_account.connection_id).update(status="active")
    assert _refresh(api, consent).status_code == 202
