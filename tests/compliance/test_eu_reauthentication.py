"""EU: the bank re-applies strong customer authentication 180 days after the last one (PSD2 RTS Art. 10a), so on
day 180 unattended access stops and the connection moves to ``reauth_required`` (sandbox clock)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from aggregator.compliance.clock import compliance_now
from aggregator.compliance.sca import connection_reauthenticate_by, unattended_sync_allowed
from aggregator.domain_events import subscribe, unsubscribe
from aggregator.models import Connection
from tests.api.factories import AccessTokenFactory

from .conftest import account_at, authorised, bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def eu_connection(days, user, eu_bank):  # type: ignore[no-untyped-def]
    """An active connection at an EU bank whose user authenticated at the bank just now."""
    return account_at(eu_bank, user, last_sca_at=compliance_now()).connection


def test_the_deadline_is_180_days_after_the_last_sca(eu_connection):
    assert connection_reauthenticate_by(eu_connection) == eu_connection.last_sca_at + dt.timedelta(days=180)


def test_a_uk_bank_has_no_reauthentication_clock(days, user, uk_bank):
    connection = account_at(uk_bank, user, last_sca_at=compliance_now()).connection
    assert connection_reauthenticate_by(connection) is None


def test_on_day_179_unattended_syncs_are_still_allowed(days, eu_connection):
    days(179)
    assert unattended_sync_allowed(connection=eu_connection)
    eu_connection.refresh_from_db()
    assert eu_connection.status == Connection.Status.ACTIVE


def test_on_day_180_unattended_access_stops_and_the_connection_needs_reauthentication(days, eu_connection):
    seen = []
    subscribe(seen.append, dispatch_uid="test-sca")
    try:
        days(180)
        assert not unattended_sync_allowed(connection=eu_connection)
    finally:
        unsubscribe("test-sca")
    eu_connection.refresh_from_db()
    assert eu_connection.status == Connection.Status.REAUTH_REQUIRED
    assert eu_connection.next_sync_at is None
    assert [(e.name, e.data["error_code"]) for e in seen] == [("connection.reauth_required", "sca_expired")]


def test_on_day_181_it_stays_stopped_and_is_announced_only_once(days, eu_connection):
    seen = []
    days(180)
    unattended_sync_allowed(connection=eu_connection)
    subscribe(seen.append, dispatch_uid="test-sca")
    try:
        days(1)
        assert not unattended_sync_allowed(connection=eu_connection)
    finally:
        unsubscribe("test-sca")
    assert seen == []


def test_the_consent_and_account_resources_show_reauthenticate_by(days, user, eu_connection):
    account = eu_connection.accounts.get()
    consent = authorised(user, account)
    due = eu_connection.last_sca_at + dt.timedelta(days=180)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(consent))
    assert (
        client.get(f"/api/v1/accounts/{account.public_id}")
        .json()["data"]["reauthenticate_by"]
        .startswith(due.strftime("%Y-%m-%dT%H:%M:%S"))
    )
    token = AccessTokenFactory(consent=None, user=None, application=consent.application, scope="consents")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    data = client.get(f"/api/v1/consents/{consent.pk}").json()["data"]
    assert data["reauthenticate_by"].startswith(due.strftime("%Y-%m-%dT%H:%M:%S"))
    assert data["reconfirm_by"] is None


def test_the_dashboard_says_re_authenticate_with_the_bank_by_the_deadline(days, client, user, eu_connection):
    authorised(user, eu_connection.accounts.get())
    client.force_login(user)
    page = client.get(reverse("consent:dashboard")).content.decode()
    due = eu_connection.last_sca_at + dt.timedelta(days=180)
    assert f"Re-authenticate with Rhein Bank by {due:%-d %b %Y}" in page
