"""Webhooks: HMAC signature, delivery with retries and backoff, give-up, resend, and the domain events."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
import respx
from django.utils import timezone

from aggregator.domain_events import DomainEvent, publish
from aggregator.models import SyncRun
from aggregator.webhooks import services
from aggregator.webhooks.models import WebhookDelivery, WebhookEvent
from aggregator.webhooks.signing import webhook_sign, webhook_signature_header, webhook_verify
from consent.models import Consent
from tests.factories import SyncRunFactory

from .factories import AuthorisedConsentFactory, TPPFactory

pytestmark = pytest.mark.django_db

HOOK = "https://tpp.example/hooks"
TPP_ADDRESS = "93.184.215.14"  # a public address the test resolver gives tpp.example
HOOK_AT = f"https://{TPP_ADDRESS}/hooks"  # where the delivery connects: the checked address, pinned


@pytest.fixture(autouse=True)
def tpp_dns(monkeypatch, settings):  # type: ignore[no-untyped-def]
    """Production rules (only public destinations, checked and pinned); tpp.example resolves to a public address
    (other names as the machine resolves them)."""
    from providers import destinations

    settings.AGGREGATOR = {**settings.AGGREGATOR, "ALLOW_PRIVATE_DESTINATIONS": False}
    names: dict[str, list[str]] = {"tpp.example": [TPP_ADDRESS]}
    real = destinations._addresses
    monkeypatch.setattr(destinations, "_addresses", lambda host, port: names.get(host) or real(host, port))
    return names


@pytest.fixture
def queued(monkeypatch):  # type: ignore[no-untyped-def]
    sent: list[tuple[int, float]] = []
    monkeypatch.setattr(
        "aggregator.webhooks.services.enqueue_webhook_delivery",
        lambda *, delivery_id, countdown=0: sent.append((delivery_id, countdown)),
    )
    return sent


@pytest.fixture
def tpp(db):  # type: ignore[no-untyped-def]
    return TPPFactory(webhook_url=HOOK, webhook_secret="whsec_test")


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"id":"1"}'
    header = webhook_signature_header(secret="s3cret", body=body, timestamp=1700000000)
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert webhook_verify(secret="s3cret", header=header, body=body, now=1700000100)
    assert not webhook_verify(secret="s3cret", header=header, body=body + b" ", now=1700000100)
    assert not webhook_verify(secret="other", header=header, body=body, now=1700000100)
    assert not webhook_verify(secret="s3cret", header=header, body=body, now=1700000000 + 301)  # replay window
    assert webhook_sign(secret="s3cret", timestamp=1700000000, body=body) == expected


def test_an_event_is_delivered_signed_with_its_id(tpp, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        event = services.webhook_event_create(application=tpp, type="consent.revoked", payload={"consent_id": "c1"})
    ((delivery_id, _),) = queued
    with respx.mock:
        route = respx.post(HOOK_AT).mock(return_value=httpx.Response(204))
        assert services.webhook_delivery_attempt(delivery_id=delivery_id) is None
    request = route.calls.last.request
    assert request.headers["Host"] == "tpp.example" and request.extensions["sni_hostname"] == "tpp.example"
    body = request.content
    assert json.loads(body) == {
        "id": str(event.id),
        "type": "consent.revoked",
        "created_at": json.loads(body)["created_at"],
        "data": {"consent_id": "c1"},
    }
    assert request.headers["Webhook-Id"] == str(event.id)
    assert webhook_verify(secret="whsec_test", header=request.headers["Webhook-Signature"], body=body)
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 1, 204)


def test_failures_are_retried_with_exponential_backoff_then_given_up(tpp, queued, settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "WEBHOOK_MAX_ATTEMPTS": 4}
    services.webhook_event_create(application=tpp, type="consent.expired", payload={})
    delivery = WebhookDelivery.objects.get()
    waits = []
    with respx.mock:
        respx.post(HOOK_AT).mock(
            side_effect=[httpx.Response(500), httpx.ConnectError("refused"), httpx.Response(502), httpx.Response(503)]
        )
        for _ in range(4):
            waits.append(services.webhook_delivery_attempt(delivery_id=delivery.pk))
    assert waits[3] is None
    assert 27 <= waits[0] <= 30 and 54 <= waits[1] <= 60 and 108 <= waits[2] <= 120
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 4, 503)
    assert "503" in delivery.last_error and delivery.next_retry_at is None


def test_a_retry_that_succeeds_stops_retrying(tpp, queued):
    services.webhook_event_create(application=tpp, type="consent.expired", payload={})
    delivery = WebhookDelivery.objects.get()
    with respx.mock:
        respx.post(HOOK_AT).mock(side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200)])
        assert services.webhook_delivery_attempt(delivery_id=delivery.pk) is not None
        delivery.refresh_from_db()
        assert delivery.next_retry_at > timezone.now() and "ReadTimeout" in delivery.last_error
        assert services.webhook_delivery_attempt(delivery_id=delivery.pk) is None
        # A redelivered task message for a finished delivery sends nothing.
        assert services.webhook_delivery_attempt(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)


def test_the_task_schedules_the_retry_the_service_asks_for(tpp, queued, monkeypatch):
    from aggregator.webhooks import tasks

    scheduled = []
    monkeypatch.setattr(tasks, "webhook_delivery_attempt", lambda *, delivery_id: 42.0)
    monkeypatch.setattr(
        tasks.webhook_deliver_task, "apply_async", lambda args, countdown: scheduled.append((args, countdown))
    )
    tasks.webhook_deliver_task.run(7)
    assert scheduled == [([7], 42.0)]


def test_resend_creates_a_new_delivery_of_the_same_event(tpp, queued):
    services.webhook_event_create(application=tpp, type="consent.expired", payload={})
    first = WebhookDelivery.objects.get()
    first.status = "failed"
    first.save()
    fresh = services.webhook_delivery_resend(delivery=first)
    assert fresh.pk != first.pk and fresh.event_id == first.event_id and fresh.status == "pending"


def test_apps_without_a_webhook_url_get_nothing(queued):
    assert services.webhook_event_create(application=TPPFactory(), type="consent.expired", payload={}) is None
    assert not WebhookEvent.objects.exists()


def test_sync_completed_announces_transactions_updated_to_consents_over_the_connection(
    tpp, alice, shared_account, bob_account, queued, django_capture_on_commit_callbacks, api
):
    consent = AuthorisedConsentFactory(application=tpp, user=alice, accounts=[shared_account])
    AuthorisedConsentFactory(application=tpp, user=alice, accounts=[shared_account], status="revoked")
    run = SyncRunFactory(
        connection=shared_account.connection,
        outcome="succeeded",
        started_at=timezone.now() - dt.timedelta(seconds=5),
        added_count=2,
        removed_count=1,
    )
    with django_capture_on_commit_callbacks(execute=True):
        publish(_sync_completed(run))
    event = WebhookEvent.objects.get()
    assert event.type == "transactions.updated" and event.application == tpp
    assert event.payload["consent_id"] == str(consent.pk)
    assert event.payload["accounts"] == [str(shared_account.public_id)]
    assert event.payload["counts"] == {"added": 2, "modified": 0, "removed": 1}
    # The cursor is a delta-feed cursor for that consent.
    from rest_framework.test import APIClient

    from .factories import AccessTokenFactory

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessTokenFactory(consent=consent).token}")
    assert client.get("/api/v1/transactions/sync", {"cursor": event.payload["cursor"]}).status_code == 200


def _sync_completed(run):  # type: ignore[no-untyped-def]
    return DomainEvent(name="sync.completed", subject_type="sync_run", subject_id=str(run.public_id))


def test_a_sync_without_changes_or_a_failed_one_announces_nothing(
    tpp, alice, shared_account, queued, django_capture_on_commit_callbacks
):
    AuthorisedConsentFactory(application=tpp, user=alice, accounts=[shared_account])
    quiet = SyncRunFactory(connection=shared_account.connection, outcome="succeeded")
    failed = SyncRunFactory(connection=shared_account.connection, outcome="failed", added_count=3)
    with django_capture_on_commit_callbacks(execute=True):
        publish(_sync_completed(quiet))
        publish(_sync_completed(failed))
    assert not WebhookEvent.objects.exists()


def test_connection_reauth_required_is_announced(
    tpp, alice, shared_account, queued, django_capture_on_commit_callbacks
):
    AuthorisedConsentFactory(application=tpp, user=alice, accounts=[shared_account])
    with django_capture_on_commit_callbacks(execute=True):
        publish(
            DomainEvent(
                name="connection.reauth_required",
                subject_type="connection",
                subject_id=str(shared_account.connection.public_id),
            )
        )
    event = WebhookEvent.objects.get()
    assert event.type == "connection.reauth_required"
    assert event.payload["connection_id"] == str(shared_account.connection.public_id)


@pytest.mark.parametrize(("status", "event_type"), [("revoked", "consent.revoked"), ("expired", "consent.expired")])
def test_consent_end_is_announced_to_its_tpp(
    tpp, alice, shared_account, queued, django_capture_on_commit_callbacks, status, event_type
):
    consent = AuthorisedConsentFactory(application=tpp, user=alice, accounts=[shared_account])
    Consent.objects.filter(pk=consent.pk).update(status=status)
    consent.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        publish(
            DomainEvent(
                name="consent.status_changed",
                subject_type="consent",
                subject_id=str(consent.pk),
                data={"from_status": "authorised", "to_status": status},
            )
        )
    event = WebhookEvent.objects.get()
    assert event.type == event_type and event.payload["consent_id"] == str(consent.pk)
    assert len(queued) == 1


def test_nothing_is_announced_for_a_rolled_back_change(tpp, alice, shared_account, queued):
    from django.db import transaction

    AuthorisedConsentFactory(application=tpp, user=alice, accounts=[shared_account])
    run = SyncRunFactory(connection=shared_account.connection, outcome=SyncRun.Outcome.SUCCEEDED, added_count=1)

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        publish(_sync_completed(run))
        raise Rollback
    assert not WebhookEvent.objects.exists()


def test_delivery_against_a_real_local_http_server(tpp, queued, settings):
    """End to end over a socket: the receiver verifies the signature exactly as docs/tpp-quickstart.md shows."""
    settings.AGGREGATOR = {**settings.AGGREGATOR, "ALLOW_PRIVATE_DESTINATIONS": True}  # a TPP on this machine
    import http.server
    import threading

    received = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received["ok"] = webhook_verify(secret="whsec_test", header=self.headers["Webhook-Signature"], body=body)
            received["id"] = self.headers["Webhook-Id"]
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):  # type: ignore[no-untyped-def]
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        tpp.webhook_url = f"http://127.0.0.1:{server.server_port}/hook"
        tpp.save()
        event = services.webhook_event_create(application=tpp, type="consent.revoked", payload={})
        delivery = WebhookDelivery.objects.get()
        assert services.webhook_delivery_attempt(delivery_id=delivery.pk) is None
    finally:
        server.shutdown()
    assert received == {"ok": True, "id": str(event.id)}


def test_a_failed_delivery_keeps_the_status_but_not_the_receivers_answer(tpp, queued):
    services.webhook_event_create(application=tpp, type="consent.expired", payload={})
    delivery = WebhookDelivery.objects.get()
    with respx.mock:
        respx.post(HOOK_AT).mock(return_value=httpx.Response(500, text="internal secrets of the receiver"))
        services.webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.response_code == 500 and "secrets" not in delivery.last_error


def test_a_name_that_resolves_to_a_private_address_at_send_time_is_not_contacted(tpp, queued, settings, tpp_dns):
    """DNS rebinding: public at registration, 169.254.169.254 (cloud metadata) when we send."""
    services.webhook_event_create(application=tpp, type="consent.expired", payload={})
    delivery = WebhookDelivery.objects.get()
    tpp_dns["tpp.example"] = ["169.254.169.254"]
    with respx.mock(assert_all_called=False) as mock:
        anything = mock.route().mock(return_value=httpx.Response(200))
        services.webhook_delivery_attempt(delivery_id=delivery.pk)
    assert not anything.called
    delivery.refresh_from_db()
    assert delivery.status == "pending" and "non-public address" in delivery.last_error


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "https://127.0.0.1/hook",
        "https://10.0.0.7/hook",
        "https://[::1]/hook",
        "https://localhost/hook",
        "http://tpp.example/hooks",  # plain http
        "https://user:pw@tpp.example/hooks",
    ],
)
def test_registration_refuses_destinations_inside_our_network(settings, url):
    from django.core.exceptions import ValidationError

    from consent.tpp import tpp_create

    with pytest.raises(ValidationError):
        tpp_create(name="Hooky", redirect_uris=["https://tpp.example/cb"], webhook_url=url)


def test_registration_accepts_a_public_https_destination(settings):
    from consent.tpp import tpp_create

    registered = tpp_create(name="Hooky", redirect_uris=["https://tpp.example/cb"], webhook_url=HOOK)
    assert registered.application.webhook_url == HOOK
