"""Silent-party minimisation (EDPB guidelines 06/2020): the other side of a payment — a person's name, their
account identifiers, the payment's description — reaches a TPP only under ``transactions``, the permission that
needs them. Every data endpoint is called under consents without it; none may answer with those values."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from aggregator.insights.models import Counterparty, RecurringStream, RiskSignal, TransactionEnrichment
from tests.api.factories import AccessTokenFactory, AuthorisedConsentFactory
from tests.factories import (
    AccountFactory,
    ApplicationFactory,
    BalanceFactory,
    ConsentFactory,
    TransactionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NAME = "Ottoline Pemberton-Vask"
IBAN = "GB33BUKB20201555555555"
DESCRIPTION = "RENT SHARE FOR FLAT 3 OTTOLINE"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.fixture(autouse=True)
def _api_settings(settings):  # type: ignore[no-untyped-def]
    settings.AGGREGATOR = {**settings.AGGREGATOR, "ACCESS_LOG_FLUSH_SECONDS": 0}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def account(db):  # type: ignore[no-untyped-def]
    """An account paid monthly by a person (a flatmate): her name, IBAN and the payment text are silent-party data."""
    account = AccountFactory(connection__user=UserFactory(username="payee-owner"))
    BalanceFactory(account=account)
    party = Counterparty.objects.create(
        key="ottolinepembertonvask", public_id="cp_00112233aabbccdd", name=NAME, type="person"
    )
    today = timezone.now().date()
    txns = []
    for months in range(3):
        txn = TransactionFactory(
            account=account,
            amount=Decimal("450.00"),
            description=DESCRIPTION,
            counterparty_name=NAME,
            booking_date=today - dt.timedelta(days=30 * months),
            raw={"DebtorAccount": {"Identification": IBAN, "Name": NAME}},
        )
        TransactionEnrichment.objects.create(
            transaction=txn,
            category_primary="income",
            category_detailed="income.wages",
            confidence="high",
            source="rule",
            probability=0.9,
            counterparty=party,
            taxonomy_version="1",
            updated_at=timezone.now(),
        )
        txns.append(txn)
    RecurringStream.objects.create(
        account=account,
        stream_key="k",
        counterparty=party,
        direction="inflow",
        description=DESCRIPTION,
        category_detailed="income.wages",
        frequency="monthly",
        average_amount=Decimal("450"),
        last_amount=Decimal("450"),
        currency="GBP",
        first_date=today - dt.timedelta(days=60),
        last_date=today,
        predicted_next_date=today + dt.timedelta(days=30),
        status="mature",
        transaction_ids=[str(t.public_id) for t in txns],
    )
    RiskSignal.objects.create(
        account=account,
        transaction=txns[0],
        kind="large_transaction",
        score=0.9,
        reason="Larger than usual.",
        transaction_ids=[str(txns[0].public_id)],
        detected_at=timezone.now(),
    )
    return account


def _bodies(account, permissions: list[str]) -> str:  # type: ignore[no-untyped-def]
    consent = AuthorisedConsentFactory(user=account.connection.user, accounts=[account], permissions=permissions)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessTokenFactory(consent=consent).token}")
    txn = account.transactions.first()
    paths = [
        "/api/v1/accounts",
        f"/api/v1/accounts/{account.public_id}",
        f"/api/v1/accounts/{account.public_id}/balances",
        f"/api/v1/accounts/{account.public_id}/transactions",
        "/api/v1/transactions/sync",
        f"/api/v1/transactions/{txn.public_id}",
        "/api/v1/recurring",
        "/api/v1/income",
        "/api/v1/risk-signals",
        "/api/v1/consents/current",
    ]
    return "\n".join(client.get(path).content.decode() for path in paths)


@pytest.mark.parametrize(
    "permissions", [["accounts"], ["balances"], ["insights"], ["accounts", "balances", "insights"]]
)
def test_without_transactions_no_endpoint_shows_the_counterpartys_name_identifiers_or_the_description(
    account, permissions
):
    bodies = _bodies(account, permissions)

    assert NAME not in bodies and IBAN not in bodies and DESCRIPTION not in bodies


def test_income_under_insights_alone_names_the_paying_person_by_id_only(account):
    bodies = _bodies(account, ["insights"])

    assert "cp_00112233aabbccdd" in bodies  # the stream is there, its counterparty anonymous


def test_with_transactions_the_counterpartys_name_and_the_description_are_shared(account):
    bodies = _bodies(account, ["accounts", "transactions", "insights"])

    assert NAME in bodies and DESCRIPTION in bodies


def test_the_banks_raw_record_with_the_counterpartys_account_never_reaches_a_tpp(account):
    bodies = _bodies(account, ["accounts", "balances", "transactions", "insights"])

    assert IBAN not in bodies


def _consent_screen(client, permissions: list[str]) -> str:  # type: ignore[no-untyped-def]
    app = ApplicationFactory(name="Budget Buddy")
    consent = ConsentFactory(application=app, permissions=permissions)
    params = {
        "client_id": app.client_id, "redirect_uri": "http://tpp.example/callback", "response_type": "code",
        "scope": " ".join(permissions), "state": "st-1", "code_challenge": CHALLENGE,
        "code_challenge_method": "S256", "consent_id": str(consent.pk),
    }  # fmt: skip
    client.force_login(UserFactory(username="screen-user"))
    page = client.get("/oauth/authorize/?" + urlencode(params)).content.decode()
    return re.search(r'id="silent-parties">(.*?)</p>', page, re.S).group(1)


def test_the_consent_screen_says_counterparty_details_come_only_with_transactions(client):
    assert "shared only if you share your transactions" in _consent_screen(client, ["accounts", "balances"])


def test_the_consent_screen_says_transactions_include_the_other_parties_details(client):
    assert "names and account details of the people" in _consent_screen(client, ["accounts", "transactions"])
