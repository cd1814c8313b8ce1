"""The insights through the API: enrichment on transactions, corrections, /recurring, /income, /risk-signals,
the ``insights`` permission and the webhooks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from aggregator.insights.recurring import FREQUENCIES
from aggregator.insights.services import insights_refresh_accounts
from aggregator.models import Transaction
from aggregator.webhooks.models import WebhookEvent
from tests.api.factories import AccessTokenFactory, AuthorisedConsentFactory
from tests.factories import ConnectionFactory
from tests.insights.conftest import SMALL_NOW, store_history

pytestmark = pytest.mark.django_db

STREAM_FIELDS = {
    "stream_id", "account_id", "direction", "counterparty", "description", "category", "frequency", "average_amount",
    "last_amount", "currency", "first_date", "last_date", "predicted_next_date", "is_active", "status",
    "transaction_ids",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _api_settings(settings):  # type: ignore[no-untyped-def]
    settings.AGGREGATOR = {**settings.AGGREGATOR, "ACCESS_LOG_FLUSH_SECONDS": 0}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from aggregator.api import selectors, throttles

    selectors._ACCOUNT_KEYS.clear()
    throttles._reserved.clear()


@pytest.fixture
def account(model_file):  # type: ignore[no-untyped-def]
    account, _ = store_history()
    insights_refresh_accounts(account_ids=[account.pk], today=SMALL_NOW.date())
    return account


def _client(account, permissions, webhook_url=""):  # type: ignore[no-untyped-def]
    consent = AuthorisedConsentFactory(
        user=account.connection.user,
        accounts=[account],
        permissions=permissions,
        transactions_from=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        transactions_to=dt.datetime(2024, 12, 31, tzinfo=dt.UTC),
        application__webhook_url=webhook_url,
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessTokenFactory(consent=consent).token}")
    return client


ALL = ["accounts", "transactions", "insights"]


def test_transactions_carry_category_counterparty_and_mcc(account):
    body = _client(account, ALL).get(f"/api/v1/accounts/{account.public_id}/transactions?page_size=500").json()
    card = next(t for t in body["data"] if t["mcc"] == "5411")
    assert card["enriched_category"]["primary"] == "food_and_drink"
    assert card["enriched_category"]["detailed"] == "food_and_drink.groceries"
    assert card["enriched_category"]["confidence"] in ("high", "very_high")
    assert card["enriched_category"]["source"] in ("mcc", "model")
    assert card["counterparty"]["id"].startswith("cp_") and card["counterparty"]["type"] == "merchant"
    assert all(t["enriched_category"] for t in body["data"])


def test_the_delta_feed_carries_the_enrichment_too(account):
    body = _client(account, ALL).get("/api/v1/transactions/sync?count=50").json()
    assert all(t["enriched_category"] and "mcc" in t for t in body["data"]["added"])


def test_recurring_lists_inflow_and_outflow_streams_with_the_fields_of_the_issue(account):
    body = _client(account, ["transactions"]).get("/api/v1/recurring").json()
    inflow, outflow = body["data"]["inflow_streams"], body["data"]["outflow_streams"]
    assert inflow and outflow
    for s in inflow + outflow:
        assert set(s) == STREAM_FIELDS
        assert s["frequency"] in FREQUENCIES and s["status"] in ("early_detection", "mature", "tombstoned")
    salary = next(s for s in inflow if s["category"]["detailed"] == "income.wages" and s["frequency"] == "monthly")
    assert salary["counterparty"]["type"] == "employer" and float(salary["average_amount"]) > 0


def test_a_patch_corrects_the_category_of_every_transaction_of_that_counterparty(account):
    client = _client(account, ALL)
    tx = Transaction.objects.filter(account=account, merchant_category_code="5411").first()
    r = client.patch(
        f"/api/v1/transactions/{tx.public_id}", {"category": "general_merchandise.superstores"}, format="json"
    )
    assert r.status_code == 200, r.content
    assert r.json()["data"]["enriched_category"]["source"] == "user"
    same = Transaction.objects.filter(account=account, merchant_name=tx.merchant_name).exclude(pk=tx.pk).first()
    again = client.get(f"/api/v1/transactions/{same.public_id}").json()["data"]["enriched_category"]
    assert (again["detailed"], again["source"], again["confidence"]) == (
        "general_merchandise.superstores",
        "user",
        "very_high",
    )


@pytest.mark.parametrize(
    ("body", "code"), [({"category": "food"}, "category_unknown"), ({}, "required"), ({"category": ""}, "blank")]
)
def test_a_bad_correction_is_a_clear_400(account, body, code):
    tx = Transaction.objects.filter(account=account).first()
    r = _client(account, ALL).patch(f"/api/v1/transactions/{tx.public_id}", body, format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == code


def test_transactions_outside_the_consent_are_404(account):
    other, _ = store_history(connection=ConnectionFactory())
    tx = Transaction.objects.filter(account=other).first()
    client = _client(account, ALL)
    assert client.get(f"/api/v1/transactions/{tx.public_id}").status_code == 404
    r = client.patch(f"/api/v1/transactions/{tx.public_id}", {"category": "income.wages"}, format="json")
    assert r.status_code == 404
    assert client.get("/api/v1/transactions/not-a-uuid").status_code == 404


def test_risk_signals_and_income_need_the_insights_permission(account):
    without = _client(account, ["accounts", "transactions"])
    for path in ("/api/v1/risk-signals", "/api/v1/income"):
        r = without.get(path)
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "permission_missing"


def test_risk_signals_carry_a_score_a_reason_and_the_transactions(account):
    body = _client(account, ALL).get("/api/v1/risk-signals?min_score=0.5").json()
    assert body["data"]
    kinds = {s["kind"] for s in body["data"]}
    assert kinds & {"duplicate_charge", "card_testing", "amount_outlier", "new_payee"}
    for s in body["data"]:
        assert 0.5 <= s["score"] <= 1 and s["reason"]
        assert s["transaction_id"] is None or s["transaction_id"] in s["transaction_ids"]
    scores = [s["score"] for s in body["data"]]
    assert scores == sorted(scores, reverse=True)


def test_risk_signals_hide_a_persons_name_without_the_transactions_permission(account):
    only = _client(account, ["insights"]).get("/api/v1/risk-signals?kind=new_payee").json()["data"]
    people = [s for s in only if s["counterparty"] and s["counterparty"]["type"] == "person"]
    assert all(s["counterparty"]["name"] is None for s in people)


def test_a_bad_risk_signal_query_is_a_400(account):
    r = _client(account, ALL).get("/api/v1/risk-signals?kind=nope&min_score=2")
    assert r.status_code == 400
    assert {e["code"] for e in r.json()["errors"]} == {"invalid_choice", "max_value"}


def test_income_lists_salary_with_pay_frequency_and_totals(account):
    from django.utils import timezone

    from providers.sandbox.clock import clock_set_offset

    clock_set_offset(int((SMALL_NOW - timezone.now()).total_seconds()))  # totals over the sandbox clock's 90 days
    data = _client(account, ALL).get("/api/v1/income").json()["data"]
    wages = {i["pay_frequency"]: i for i in data if i["category"]["detailed"] == "income.wages"}
    # the monthly salary, and the weekly wages of the generated user's second job
    assert set(wages) == {"monthly", "weekly"}
    assert set(wages["monthly"]) >= {"total_90d", "total_12m", "predicted_next_date"}
    assert Decimal(wages["weekly"]["total_90d"]) > 0
    assert Decimal(wages["monthly"]["total_12m"]) > Decimal(wages["monthly"]["total_90d"]) > 0


def test_stream_and_signal_changes_become_webhooks_for_consents_allowed_to_see_them(
    model_file, django_capture_on_commit_callbacks
):
    account, _ = store_history()
    _client(account, ["transactions"], webhook_url="https://tpp.example/hooks")
    _client(account, ["insights"], webhook_url="https://other.example/hooks")
    with django_capture_on_commit_callbacks(execute=True):
        insights_refresh_accounts(account_ids=[account.pk], today=SMALL_NOW.date())
    recurring = WebhookEvent.objects.filter(type="recurring.updated")
    signals = WebhookEvent.objects.filter(type="risk_signal.detected")
    assert {e.application.webhook_url for e in recurring} == {"https://tpp.example/hooks"}
    assert {e.application.webhook_url for e in signals} == {"https://other.example/hooks"}
    assert recurring.first().payload["streams"]
    assert "name" not in str(signals.first().payload)
