"""What gets logged: the consent lifecycle (linked back to its ConsentEvent rows and shown on the consent resource
and the dashboard), tokens issued and revoked, data-access batches; personal data only as salted commitments."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from aggregator.api.access_log import AccessRecord, _write
from aggregator.ledger.leaves import commitment
from aggregator.ledger.models import LedgerLeaf, LedgerOutbox, LedgerSalt
from aggregator.ledger.services import ledger_append_pending, ledger_salt_erase
from consent.models import ConsentEvent
from consent.services import consent_authorise, consent_create, consent_revoke
from tests.factories import AccountFactory, ApplicationFactory, ConnectionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():  # type: ignore[no-untyped-def]
    return UserFactory(username="alice", email="alice@example.invalid")


@pytest.fixture
def account(alice):  # type: ignore[no-untyped-def]
    return AccountFactory(connection=ConnectionFactory(user=alice))


@pytest.fixture
def authorised(alice, account):  # type: ignore[no-untyped-def]
    consent = consent_create(
        application=ApplicationFactory(), permissions=["accounts"], expires_at=timezone.now() + dt.timedelta(days=3)
    )
    return consent_authorise(consent=consent, user=alice, accounts=[account])


def _documents() -> list[dict]:
    return [json.loads(bytes(raw)) for raw in LedgerLeaf.objects.order_by("index").values_list("leaf", flat=True)]


def test_a_consent_lifecycle_is_logged_and_each_consent_event_knows_its_leaf(authorised, alice):
    consent_revoke(consent=authorised, actor_type="user", actor_user=alice)
    ledger_append_pending()
    docs = _documents()
    assert [(d["event"], d["data"].get("to_status") or d["data"].get("token_kind")) for d in docs] == [
        ("consent.status_changed", "awaiting_authorisation"),
        ("consent.status_changed", "authorised"),
        ("consent.status_changed", "revoked"),
    ]
    events = list(ConsentEvent.objects.filter(consent=authorised).order_by("id"))
    assert [e.ledger_leaf_index for e in events] == [0, 1, 2]
    assert [str(e.event_id) for e in events] == [d["event_id"] for d in docs]


def test_leaves_hold_a_commitment_to_the_user_never_the_user(authorised, alice):
    ledger_append_pending()
    raw = b"".join(bytes(r) for r in LedgerLeaf.objects.values_list("leaf", flat=True))
    assert b"alice" not in raw
    salt = bytes(LedgerSalt.objects.get(subject=f"user:{alice.pk}").salt)
    # Both leaves (created, authorised) are about alice's consent by the time they are logged.
    assert [d["commitments"] for d in _documents()] == [{"user": commitment(salt, f"user:{alice.pk}")}] * 2


def test_erasure_forgets_the_salt_and_leaves_the_log_untouched(authorised, alice):
    ledger_append_pending()
    before = list(LedgerLeaf.objects.values_list("leaf_hash", flat=True))
    assert ledger_salt_erase(user_id=alice.pk)
    assert not LedgerSalt.objects.filter(subject=f"user:{alice.pk}").exists()
    assert list(LedgerLeaf.objects.values_list("leaf_hash", flat=True)) == before


def test_the_consent_resource_and_the_dashboard_carry_the_leaf_indexes(authorised, alice):
    from rest_framework.test import APIClient

    from aggregator.api.consents import ConsentSerializer

    ledger_append_pending()
    assert ConsentSerializer(authorised).data["ledger"] == [
        {"event": "consent.status_changed", "leaf_index": 0},
        {"event": "consent.status_changed", "leaf_index": 1},
    ]
    client = Client()
    client.force_login(alice)
    page = client.get("/me/consents/").content.decode()
    assert 'href="/ledger/proof/inclusion?leaf_index=1"' in page
    assert APIClient().get("/ledger/proof/inclusion?leaf_index=1&tree_size=2").status_code == 200


def test_a_payment_consent_or_payment_event_is_logged_by_prefix():
    from aggregator.domain_events import DomainEvent, publish

    publish(DomainEvent(name="payment.status_changed", subject_type="payment", subject_id="p1", data={"iban": "GB1"}))
    publish(DomainEvent(name="paymentish", subject_type="x", subject_id="1"))
    ledger_append_pending()
    (doc,) = _documents()
    assert doc["event"] == "payment.status_changed" and "iban" not in doc["data"]
    assert "GB1" not in json.dumps(doc)


def test_tokens_issued_and_revoked_at_the_token_endpoints_are_logged_without_the_token(settings):
    app = ApplicationFactory(authorization_grant_type="client-credentials")
    auth = "Basic " + base64.b64encode(f"{app.client_id}:tpp-secret".encode()).decode()
    client = Client()
    issued = client.post(
        "/oauth/token/", {"grant_type": "client_credentials", "scope": "consents"}, HTTP_AUTHORIZATION=auth
    )
    assert issued.status_code == 200, issued.content
    token = issued.json()["access_token"]
    revoked = client.post("/oauth/revoke_token/", {"token": token}, HTTP_AUTHORIZATION=auth)
    assert revoked.status_code == 200
    rows = list(LedgerOutbox.objects.order_by("id").values_list("name", "subject_type", "subject_id", "data"))
    assert [r[:3] for r in rows] == [
        ("token.issued", "application", app.client_id),
        ("token.revoked", "application", app.client_id),
    ]
    assert rows[0][3]["scope"] == "consents" and rows[0][3]["token_kinds"] == ["access_token"]
    assert rows[1][3] == {"client_id": app.client_id, "token_kind": "access_token", "reason": "client_request"}
    assert token not in json.dumps([r[3] for r in rows])


def test_revoking_a_consent_with_live_tokens_logs_their_revocation(authorised, alice):
    from tests.api.factories import AccessTokenFactory

    AccessTokenFactory(consent=authorised)
    consent_revoke(consent=authorised, actor_type="tpp")
    names = list(LedgerOutbox.objects.order_by("id").values_list("name", flat=True))
    assert names[-2:] == ["consent.status_changed", "token.revoked"]


def test_an_access_log_batch_is_one_data_accessed_leaf_per_consent(authorised):
    now = timezone.now()
    records = [
        AccessRecord(authorised.pk, authorised.application_id, now, "GET", path, 200, "r")
        for path in ["/api/v1/accounts", "/api/v1/accounts", "/api/v1/accounts/7b0e4c1a-2f9d-4e55-9c3b-1d2e3f4a5b6c"]
    ]
    before = LedgerOutbox.objects.count()
    _write(records)
    assert LedgerOutbox.objects.count() == before + 1
    row = LedgerOutbox.objects.order_by("-id").first()
    assert (row.name, row.subject_id) == ("data.accessed", str(authorised.pk))
    assert row.data["requests"] == 3
    assert row.data["endpoints"] == [
        {"method": "GET", "path": "/api/v1/accounts", "status": 200, "count": 2},
        {"method": "GET", "path": "/api/v1/accounts/{id}", "status": 200, "count": 1},
    ]
