"""Staff see the clocks in the admin: consents and connections "due within 7 days" and "overdue"."""

from __future__ import annotations

import pytest

from aggregator.compliance.clock import compliance_now
from tests.factories import UserFactory

from .conftest import account_at, authorised

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):  # type: ignore[no-untyped-def]
    client.force_login(UserFactory(username="staff", is_staff=True, is_superuser=True))
    return client


def _listed(staff_client, url: str, objects) -> list[bool]:  # type: ignore[no-untyped-def]
    page = staff_client.get(url).content.decode()
    return [str(getattr(o, "public_id", o.pk)) in page for o in objects]


def test_consents_due_within_7_days_and_overdue(days, staff_client, user, uk_bank):
    overdue = authorised(user, account_at(uk_bank, user))  # due on day 90
    days(10)
    due_soon = authorised(user, account_at(uk_bank, user))  # due on day 100
    days(50)
    later = authorised(user, account_at(uk_bank, user))  # due on day 150
    days(35)  # day 95
    consents = [overdue, due_soon, later]
    assert _listed(staff_client, "/admin/consent/consent/?reconfirm=overdue", consents) == [True, False, False]
    assert _listed(staff_client, "/admin/consent/consent/?reconfirm=7d", consents) == [False, True, False]


def test_connections_due_within_7_days_and_overdue(days, staff_client, user, eu_bank):
    overdue = account_at(eu_bank, user, last_sca_at=compliance_now()).connection  # due on day 180
    days(10)
    due_soon = account_at(eu_bank, user, last_sca_at=compliance_now()).connection  # due on day 190
    days(100)
    later = account_at(eu_bank, user, last_sca_at=compliance_now()).connection  # due on day 290
    days(75)  # day 185
    connections = [overdue, due_soon, later]
    url = "/admin/aggregator/connection/"
    assert _listed(staff_client, url + "?reauth=overdue", connections) == [True, False, False]
    assert _listed(staff_client, url + "?reauth=7d", connections) == [False, True, False]
