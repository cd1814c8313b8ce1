"""The sync engine acts on what a bank's OAuth error answer means (real adapter, bank mocked)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from aggregator.connections.credentials import credentials_store
from aggregator.models import Connection, SyncRun
from aggregator.sync.services import connection_sync
from providers.base import Credentials, TransientProviderError
from tests.factories import ConnectionFactory, InstitutionFactory

from .conftest import mock_albion

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def connection():  # type: ignore[no-untyped-def]
    albion = InstitutionFactory(slug="albion", provider="obie", country="GB", config={"sandbox_bank": "albion"})
    connection = ConnectionFactory(institution=albion)
    stale = Credentials(
        access_token="old", refresh_token="r-1", expires_at=timezone.now() - timedelta(minutes=5), consent_id="c-1"
    )
    credentials_store(connection=connection, credentials=stale)
    return connection


def test_a_refresh_refused_for_an_unknown_client_is_an_error_the_operator_can_fix(bank_mock, connection):
    routes = mock_albion(bank_mock)
    routes["token"].mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))

    run = connection_sync(connection=connection)

    connection.refresh_from_db()
    assert (run.outcome, run.error_code) == (SyncRun.Outcome.FAILED, "oauth_invalid_client")
    assert connection.status == Connection.Status.ERROR  # not reauth_required: reconnecting would not help
    assert "does not know our OAuth client" in connection.last_error
    assert "sandbox_bootstrap" in connection.last_error


def test_a_refresh_answered_with_server_error_is_retried_later_not_an_error(bank_mock, connection):
    routes = mock_albion(bank_mock)
    routes["token"].mock(return_value=httpx.Response(400, json={"error": "server_error"}))

    with pytest.raises(TransientProviderError):
        connection_sync(connection=connection)

    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE
    assert SyncRun.objects.get(connection=connection).error_code == "oauth_server_error"
