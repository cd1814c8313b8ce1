"""Schema conformance: schemathesis over /api/schema/ with a valid consent-bound token on the data endpoints and a
client-credentials token on the consent resource — positive data (no 5xx, every response matches the documented
schema) and negative data (schema-violating input: no 5xx, refused with a documented status and shape) with a
bounded example count — plus real-data responses of every endpoint validated against the same schema."""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import DataGenerationMethod
from schemathesis.checks import content_type_conformance, not_a_server_error

from tests.factories import SyncRunFactory, TransactionFactory

from .factories import AccessTokenFactory

pytestmark = pytest.mark.django_db

OUR_PATHS = r"^/api/v1/(accounts|transactions/sync|syncs/|consents/\{consent_id\}/refresh)"
CONSENT_PATHS = r"^/api/v1/consents(/\{consent_id\})?$"
BOTH = [DataGenerationMethod.positive, DataGenerationMethod.negative]


@pytest.fixture(autouse=True)
def _keep_the_test_connection():  # type: ignore[no-untyped-def]
    """schemathesis drives the WSGI app directly; like Django's test client, keep request signals from closing
    the test's database connection (a file-backed SQLite or PostgreSQL test database would be closed mid-test)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(db):  # type: ignore[no-untyped-def]
    from aggregator.config.wsgi import application

    return schemathesis.from_wsgi("/api/schema/?format=json", application, data_generation_methods=BOTH).include(
        path_regex=OUR_PATHS
    )


@pytest.fixture
def consents_schema(db):  # type: ignore[no-untyped-def]
    from aggregator.config.wsgi import application

    return schemathesis.from_wsgi("/api/schema/?format=json", application, data_generation_methods=BOTH).include(
        path_regex=CONSENT_PATHS
    )


@pytest.fixture
def bearer(token, shared_account, monkeypatch):  # type: ignore[no-untyped-def]
    TransactionFactory(account=shared_account, booking_date=dt.date(2026, 2, 1))
    SyncRunFactory(connection=shared_account.connection)
    monkeypatch.setattr("aggregator.sync.services.enqueue_connection_sync", lambda **kwargs: None)
    return {"Authorization": f"Bearer {token.token}"}


@pytest.fixture
def client_credentials(consent, monkeypatch):  # type: ignore[no-untyped-def]
    """TPP's client-credentials token (scope ``consents``), owning the ``consent`` fixture's consent."""
    token = AccessTokenFactory(consent=None, user=None, application=consent.application, scope="consents")
    return {"Authorization": f"Bearer {token.token}"}


schema = schemathesis.from_pytest_fixture("api_schema")
consents = schemathesis.from_pytest_fixture("consents_schema")


def _validate(case, response) -> None:  # type: ignore[no-untyped-def]
    """Positive data: the full schema checks. Negative data (input the schema forbids): never a 5xx, an answer the
    schema documents (status, headers, body), and no success for input the server should have refused."""
    if case.data_generation_method == DataGenerationMethod.negative:
        assert response.status_code < 500, response.get_data()[:300]
        case.validate_response(response, checks=(not_a_server_error, content_type_conformance))
        return
    case.validate_response(response)


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_schema(case, bearer):  # type: ignore[no-untyped-def]
    _validate(case, case.call_wsgi(headers=bearer))


@consents.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_consent_operation_conforms_to_the_schema_with_a_client_credentials_token(case, client_credentials):  # type: ignore[no-untyped-def]
    _validate(case, case.call_wsgi(headers=client_credentials))


def test_real_responses_of_every_endpoint_match_the_schema(token, consent, shared_account, monkeypatch):
    """Random UUIDs mostly meet 404s; this walks the happy paths with real ids through the same schema."""
    from aggregator.config.wsgi import application

    monkeypatch.setattr("aggregator.sync.services.enqueue_connection_sync", lambda **kwargs: None)
    loaded = schemathesis.from_wsgi("/api/schema/?format=json", application)
    pending = TransactionFactory(account=shared_account, booking_date=dt.date(2026, 2, 1), status="pending")
    TransactionFactory(
        account=shared_account,
        booking_date=dt.date(2026, 2, 2),
        booked_at=dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC),
        pending_transaction_id=pending.provider_transaction_id,
    )
    run = SyncRunFactory(connection=shared_account.connection)
    a = str(shared_account.public_id)
    calls = [
        ("GET", "/api/v1/accounts", {}, {}, 200),
        ("GET", "/api/v1/accounts/{account_id}", {"account_id": a}, {}, 200),
        ("GET", "/api/v1/accounts/{account_id}/balances", {"account_id": a}, {}, 200),
        ("GET", "/api/v1/accounts/{account_id}/transactions", {"account_id": a}, {"page_size": 1}, 200),
        ("GET", "/api/v1/accounts/{account_id}/transactions", {"account_id": a}, {"page_size": 0}, 400),
        ("GET", "/api/v1/transactions/sync", {}, {}, 200),
        ("GET", "/api/v1/syncs/{sync_id}", {"sync_id": str(run.public_id)}, {}, 200),
        ("POST", "/api/v1/consents/{consent_id}/refresh", {"consent_id": str(consent.pk)}, {}, 202),
    ]
    headers = {"Authorization": f"Bearer {token.token}"}
    for method, template, path_parameters, query, status in calls:
        case = loaded[template][method].make_case(path_parameters=path_parameters, query=query, headers=headers)
        response = case.call_wsgi()
        assert response.status_code == status, (template, response.get_data())
        case.validate_response(response)


def test_the_schema_declares_the_oauth2_scheme_every_operation_refers_to(client):
    document = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    scheme = document["components"]["securitySchemes"]["oauth2"]
    assert scheme["type"] == "oauth2"
    assert set(scheme["flows"]["authorizationCode"]["scopes"]) == {
        "accounts",
        "balances",
        "transactions",
        "insights",
        "payments",
    }
    assert set(scheme["flows"]["clientCredentials"]["scopes"]) == {"consents"}
    referenced = {
        name
        for path in document["paths"].values()
        for operation in path.values()
        for requirement in operation.get("security", [])
        for name in requirement
    }
    assert referenced == {"oauth2"}
