"""The connect flow records the user's strong authentication at the bank (``last_sca_at``) on the compliance
clock: connecting, and re-authenticating a ``reauth_required`` connection (the one-click reconnect)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from aggregator.compliance.clock import compliance_now
from aggregator.models import Connection
from tests.aggregator.test_connect import _start, albion, alice, routes  # noqa: F401  (fixtures)
from tests.factories import ConnectionFactory
from tests.providers.conftest import _bank_settings, bank_mock, ok, sleeps  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


def test_connecting_records_the_sca_on_the_compliance_clock(days, client, alice, albion, routes):  # noqa: F811
    days(30)
    state, _ = _start(client)
    client.get(reverse("connections:connect-callback"), {"state": state, "code": "abc"})
    connection = Connection.objects.get(user=alice, institution=albion)
    assert abs(connection.last_sca_at - compliance_now()) < dt.timedelta(seconds=5)


def test_reauthenticating_a_paused_connection_restarts_its_clock(days, client, alice, albion, routes):  # noqa: F811
    old = compliance_now()
    existing = ConnectionFactory(
        user=alice, institution=albion, status=Connection.Status.REAUTH_REQUIRED, last_sca_at=old
    )
    days(181)
    state, _ = _start(client)
    client.get(reverse("connections:connect-callback"), {"state": state, "code": "abc"})
    existing.refresh_from_db()
    assert existing.status == Connection.Status.ACTIVE
    assert existing.last_sca_at - old > dt.timedelta(days=180)
