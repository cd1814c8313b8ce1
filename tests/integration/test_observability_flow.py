"""A full flow — connect to a sandbox bank over real HTTP, sync, TPP API calls (one throttled), a consent
revoked, webhooks delivered to a receiver on a socket — with every log line captured at DEBUG through the
configured handler pipeline (context + redaction + JSON), then:

* no token, client secret, webhook secret, IBAN or account number seen in the flow appears in any log line;
* ``/metrics`` shows every family moving: requests by route name, rate-limit refusals, syncs by bank and outcome,
  their duration and rows, bank calls, webhook deliveries, consent transitions.

Runs on SQLite too (the sandbox is pytest-django's live server; no worker needed).
"""

from __future__ import annotations

import http.server
import io
import json
import logging
import re
import threading

import pytest
from rest_framework.test import APIClient

from aggregator.connections.credentials import credentials_load
from aggregator.management.commands.sandbox_connect import sandbox_connect
from aggregator.models import Account, SyncRun
from aggregator.observability.logs import ContextFilter, JsonFormatter, RedactFilter
from aggregator.sync.services import connection_sync
from aggregator.webhooks import services as webhook_services
from aggregator.webhooks.models import WebhookDelivery
from consent.models import Consent
from consent.services import consent_revoke
from providers.sandbox.oauth.clients import demo_clients
from tests.api.factories import AccessTokenFactory, AuthorisedConsentFactory, TPPFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _sample(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{key}="{want}"' in head for key, want in labels.items()):
            total += float(value)
    return total


@pytest.fixture
def captured_logs():  # type: ignore[no-untyped-def]
    """Every record at DEBUG, through the production pipeline (the settings' filters, the JSON formatter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "django.db.backends")}
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    received: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # type: ignore[no-untyped-def]
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):  # type: ignore[no-untyped-def]
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_a_full_flow_logs_no_secret_and_moves_every_metric(
    sandbox_banks, settings, captured_logs, receiver, monkeypatch
):
    hook_url, received = receiver
    settings.AGGREGATOR = {
        **settings.AGGREGATOR,
        "ALLOW_PRIVATE_DESTINATIONS": True,
        "ACCESS_LOG_FLUSH_SECONDS": 0,
        "METRICS_TOKEN": "metrics-token-for-the-test",
    }
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "consent": "3/min"},
    }
    from aggregator.api import selectors, throttles

    selectors._ACCOUNT_KEYS.clear()
    throttles._reserved.clear()  # reservations of earlier tests belong to counters the cache no longer has
    queued: list[int] = []
    monkeypatch.setattr(
        webhook_services, "enqueue_webhook_delivery", lambda *, delivery_id, countdown=0: queued.append(delivery_id)
    )
    scraper = APIClient()

    def scrape() -> str:
        response = scraper.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-for-the-test")
        assert response.status_code == 200
        return response.content.decode()

    before = scrape()

    # connect over the sandbox's real OAuth flow, then a TPP with a consent over the accounts and a webhook URL
    connection = sandbox_connect(username="alice", bank="albion", sync=False)
    tpp = TPPFactory(webhook_url=hook_url, webhook_secret="whsec_flow_secret_1234")
    accounts = list(Account.objects.filter(connection=connection))
    consent = AuthorisedConsentFactory(user=connection.user, application=tpp, accounts=accounts)
    token = AccessTokenFactory(consent=consent)

    run = connection_sync(connection=connection, trigger=SyncRun.Trigger.MANUAL)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.added_count > 0

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    statuses = [api.get("/api/v1/accounts").status_code]
    statuses.append(api.get(f"/api/v1/accounts/{accounts[0].public_id}/transactions").status_code)
    statuses.append(api.get("/api/v1/accounts").status_code)
    statuses.append(api.get("/api/v1/accounts").status_code)
    assert statuses == [200, 200, 200, 429]

    consent_revoke(consent=Consent.objects.get(pk=consent.pk), actor_type="user", actor_user=connection.user)
    for delivery_id in queued:
        assert webhook_services.webhook_delivery_attempt(delivery_id=delivery_id) is None
    # (The shared worker may deliver other events of the flow itself, e.g. insights about the synced rows.)
    delivered = WebhookDelivery.objects.filter(pk__in=queued, status=WebhookDelivery.Status.SUCCEEDED)
    assert delivered.count() == len(queued) >= 2
    assert {body["type"] for body in received} >= {"transactions.updated", "consent.revoked"}

    after = scrape()

    # --- no secret in any log line ---------------------------------------------------------------------------
    credentials = credentials_load(connection=connection)
    secrets = {
        "bank access token": credentials.access_token,
        "bank refresh token": credentials.refresh_token,
        "TPP access token": token.token,
        "webhook secret": tpp.webhook_secret,
        "metrics token": "metrics-token-for-the-test",
    }
    secrets.update({f"client secret of {c['client_id']}": c["client_secret"] for c in demo_clients()})
    for institution_secret in (connection.institution.config or {}).get("client_secret", ""), tpp.client_secret:
        if institution_secret:
            secrets[f"client secret {institution_secret[:3]}…"] = institution_secret
    for account in Account.objects.filter(connection=connection):
        for field in ("iban", "account_number", "masked_pan"):
            value = getattr(account, field)
            if value and len(re.sub(r"\D", "", value)) >= 6:
                secrets[f"{field} of {account.provider_account_id}"] = value
                secrets[f"{field} (no spaces) of {account.provider_account_id}"] = value.replace(" ", "")
    assert any(k.startswith("iban") or k.startswith("account_number") for k in secrets)
    log = captured_logs.getvalue()
    lines = log.splitlines()
    assert len(lines) > 50  # DEBUG really was captured
    leaked = sorted(name for name, value in secrets.items() if value and value in log)
    assert leaked == []
    # every line is JSON and request lines carry their request id; the API's lines say which TPP and consent
    entries = [json.loads(line) for line in lines]
    assert any(e.get("sync_run_id") == str(run.public_id) and e.get("connection_id") for e in entries)
    assert any(e.get("consent_id") == str(consent.pk) and e.get("tpp") == str(tpp.pk) for e in entries)

    # --- every metric moved ------------------------------------------------------------------------------------
    def moved(name: str, **labels: str) -> float:
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    assert moved("http_requests_total", endpoint="api:account-list", method="GET", status="200") == 2
    assert moved("http_requests_total", endpoint="api:account-transactions", status="200") == 1
    assert moved("http_request_duration_seconds_count", endpoint="api:account-list") == 3
    assert moved("api_rate_limited_total") == 1
    assert moved("syncs_total", bank="albion", outcome="succeeded") == 1
    assert moved("sync_duration_seconds_count", bank="albion") == 1
    assert moved("sync_rows_total", bank="albion", change="added") == run.added_count
    assert moved("bank_calls_total", bank="albion", status="200") >= 3
    assert moved("bank_call_duration_seconds_count", bank="albion") >= 3
    assert moved("webhook_deliveries_total", result="delivered") == len(queued)
    assert moved("consent_transitions_total", from_status="authorised", to_status="revoked") == 1
    assert "celery_queue_depth_up" in after
