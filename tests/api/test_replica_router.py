"""The read-replica router: read-only API requests read from the replica; writes, reads after a write (in the
request, or by the same client within DATABASE_REPLICA_PIN_SECONDS), transactions and everything outside the API
use the primary. The ``replica`` alias here is a second connection to the same test database."""

from __future__ import annotations

import time

import pytest
from django.db import connections, router, transaction
from django.test.utils import CaptureQueriesContext

from aggregator.config.db_router import PRIMARY, REPLICA, ReplicaRouter, replica_scope
from aggregator.models import Account, Connection

# transaction=True: the replica connection sees only what the fixtures committed.
pytestmark = pytest.mark.django_db(transaction=True, databases=[PRIMARY, REPLICA])

PIN_MIDDLEWARE = "aggregator.config.db_router.ReplicaPinMiddleware"


@pytest.fixture(scope="module", autouse=True)
def _replica_alias(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """A ``replica`` alias on the test database, made before each test's database access is set up (module scope
    runs first), so the test may use it."""
    connections.settings[REPLICA] = {**connections[PRIMARY].settings_dict}
    yield
    with django_db_blocker.unblock():
        connections[REPLICA].close()
    del connections[REPLICA]
    del connections.settings[REPLICA]


@pytest.fixture
def replica(settings):  # type: ignore[no-untyped-def]
    settings.DATABASE_ROUTERS = ["aggregator.config.db_router.ReplicaRouter"]
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(middleware.index("aggregator.middleware.RequestIdMiddleware") + 1, PIN_MIDDLEWARE)
    settings.MIDDLEWARE = middleware
    return connections[REPLICA]


def _account_queries(captured: CaptureQueriesContext) -> int:
    return sum('FROM "aggregator_account"' in query["sql"] for query in captured.captured_queries)


def _get_accounts(api):  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connections[PRIMARY]) as primary, CaptureQueriesContext(replica_db()) as copy:
        response = api.get("/api/v1/accounts")
    assert response.status_code == 200, response.content
    return response, _account_queries(primary), _account_queries(copy)


def replica_db():  # type: ignore[no-untyped-def]
    return connections[REPLICA]


def test_a_read_only_api_request_reads_the_accounts_from_the_replica(api, replica, shared_account):
    response, on_primary, on_replica = _get_accounts(api)

    assert [a["id"] for a in response.json()["data"]] == [str(shared_account.public_id)]
    assert (on_primary, on_replica) == (0, 1)


def test_a_client_that_just_wrote_reads_from_the_primary_until_the_pin_lapses(
    api, replica, consent, shared_account, settings, monkeypatch
):
    monkeypatch.setattr("aggregator.sync.services.enqueue_connection_sync", lambda **kwargs: None)
    settings.DATABASE_REPLICA_PIN_SECONDS = 1
    assert api.post(f"/api/v1/consents/{consent.pk}/refresh").status_code == 202

    _, on_primary, on_replica = _get_accounts(api)
    assert (on_primary, on_replica) == (1, 0)  # its write may not have reached the replica yet

    time.sleep(1.2)
    _, on_primary, on_replica = _get_accounts(api)
    assert (on_primary, on_replica) == (0, 1)


def test_reads_after_a_write_in_the_same_request_go_to_the_primary(replica, shared_account):
    with replica_scope():
        assert router.db_for_read(Account) == REPLICA
        Connection.objects.filter(pk=shared_account.connection_id).update(last_error="")
        assert router.db_for_read(Account) == PRIMARY
    with replica_scope():
        assert router.db_for_read(Account) == REPLICA  # the next request starts unpinned


def test_reads_inside_a_transaction_go_to_the_primary(replica):
    with replica_scope(), transaction.atomic():
        assert router.db_for_read(Account) == PRIMARY


def test_reads_outside_a_read_only_api_request_go_to_the_primary(replica):
    assert router.db_for_read(Account) == PRIMARY  # a worker, beat, the admin, the consent pages


def test_migrations_run_on_the_primary_only():
    assert ReplicaRouter().allow_migrate(PRIMARY, "aggregator") is True
    assert ReplicaRouter().allow_migrate(REPLICA, "aggregator") is False
