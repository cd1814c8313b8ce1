"""The user's dashboard shows spending by category (server-side SVG) and recurring payments; the admin shows a
transaction's labels and signals with their reasons."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from aggregator.insights.models import RiskSignal
from aggregator.insights.services import insights_refresh_accounts
from tests.api.factories import AuthorisedConsentFactory
from tests.factories import UserFactory
from tests.insights.conftest import SMALL_NOW, store_history

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(model_file, settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    account, _ = store_history()
    insights_refresh_accounts(account_ids=[account.pk], today=SMALL_NOW.date())
    return account


def test_the_dashboard_draws_spending_by_category_and_lists_recurring_payments(client, account, monkeypatch):
    from consent import account_views

    monkeypatch.setattr(account_views, "SPENDING_DAYS", 200)  # the stored history ends in May 2024
    monkeypatch.setattr(account_views.timezone, "now", lambda: dt.datetime(2024, 5, 31, 12, tzinfo=dt.UTC))
    AuthorisedConsentFactory(user=account.connection.user, accounts=[account], permissions=["transactions"])
    client.force_login(account.connection.user)
    html = client.get("/me/consents/").content.decode()
    svg = re.search(r"<svg[^>]*spending-chart.*?</svg>", html, re.S)
    assert svg is not None
    assert "food and drink" in svg.group(0) and "<script" not in svg.group(0)
    assert 'id="recurring-heading"' in html
    table = html.split('id="recurring-heading"', 1)[1]
    assert "Monthly" in table and "Next expected" in table


def test_the_admin_shows_a_transactions_labels_and_signals_with_reasons(client, account):
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    client.force_login(staff)
    signal = RiskSignal.objects.filter(account=account, transaction__isnull=False).first()
    page = client.get(f"/admin/aggregator/transaction/{signal.transaction_id}/change/").content.decode()
    assert signal.reason.split(":")[0][:20] in page.replace("&#x27;", "'")
    assert "confidence" in page.lower() and signal.transaction.enrichment.category_detailed in page
    assert client.get("/admin/insights/risksignal/").status_code == 200
    assert client.get("/admin/insights/recurringstream/").status_code == 200
