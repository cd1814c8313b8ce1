"""Fixtures of the payment tests: alice with an account at a bank that takes payments (the in-memory fake), a TPP
with its client-credentials token, and helpers that take a payment consent through its authorisation."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from aggregator.payments.consents import (
    payment_consent_authorisation_complete,
    payment_consent_authorisation_start,
)
from consent.models import AccessToken, Consent
from consent.services import consent_authorise, consent_create_for_payment
from tests.api.factories import TPPFactory
from tests.factories import AccountFactory, ConnectionFactory, InstitutionFactory, UserFactory

from .fakes import pay_bank_fixture  # noqa: F401 - a fixture

INSTRUCTION = {
    "amount": "42.50",
    "currency": "GBP",
    "creditor_name": "Acme Energy Ltd",
    "creditor_sort_code": "200000",
    "creditor_account_number": "55779911",
    "reference": "INV-2026-0042",
}


@pytest.fixture(autouse=True)
def _settings(settings):  # type: ignore[no-untyped-def]
    settings.AGGREGATOR = {**settings.AGGREGATOR, "ACCESS_LOG_FLUSH_SECONDS": 0, "DELTA_FEED_SAFETY_LAG_SECONDS": 0}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from aggregator.api import throttles

    throttles._reserved.clear()


@pytest.fixture
def pay_bank(pay_bank_fixture):  # type: ignore[no-untyped-def]  # noqa: F811
    return pay_bank_fixture


@pytest.fixture
def alice(db):  # type: ignore[no-untyped-def]
    user = UserFactory(username="alice")
    user.set_password("alice-demo")
    user.save()
    return user


@pytest.fixture
def pay_institution(pay_bank):  # type: ignore[no-untyped-def]
    return InstitutionFactory(slug="fake-pay-bank", name="Fake Pay Bank", provider="fake_pay")


@pytest.fixture
def alice_account(alice, pay_institution):  # type: ignore[no-untyped-def]
    connection = ConnectionFactory(user=alice, institution=pay_institution)
    return AccountFactory(connection=connection, display_name="Everyday", provider_account_id="acc-1")


@pytest.fixture
def tpp(db):  # type: ignore[no-untyped-def]
    return TPPFactory(webhook_url="https://tpp.example/hooks", webhook_secret="s" * 32)


def bearer(token: AccessToken) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    return client


def client_token(application) -> AccessToken:  # type: ignore[no-untyped-def]
    return AccessToken.objects.create(
        application=application,
        token=secrets.token_urlsafe(30),
        scope="consents",
        expires=timezone.now() + dt.timedelta(minutes=5),
    )


def consent_token(consent: Consent) -> AccessToken:
    return AccessToken.objects.create(
        application=consent.application,
        user=consent.user,
        consent=consent,
        token=secrets.token_urlsafe(30),
        scope=" ".join(consent.permissions),
        expires=timezone.now() + dt.timedelta(minutes=5),
    )


def authorised_payment_consent(tpp, user, account, **instruction) -> Consent:  # type: ignore[no-untyped-def]
    """A payment consent taken through our screen's service and the (fake) bank's SCA: authorised."""
    consent = consent_create_for_payment(application=tpp, instruction={**INSTRUCTION, **instruction})
    pc = consent.payment_consent
    payment_consent_authorisation_start(
        consent=pc, user=user, account=account, redirect_uri="http://testserver/connect/callback/"
    )
    pc.refresh_from_db()
    payment_consent_authorisation_complete(state=pc.bank_state, code="bank-code", user=user)
    consent_authorise(consent=consent, user=user, accounts=[account])
    consent.refresh_from_db()
    return consent


@pytest.fixture
def authorised(tpp, alice, alice_account):  # type: ignore[no-untyped-def]
    return authorised_payment_consent(tpp, alice, alice_account)


@pytest.fixture
def payer(authorised):  # type: ignore[no-untyped-def]
    """An API client holding the payment token of the authorised payment consent."""
    return bearer(consent_token(authorised))


AMOUNT = Decimal("42.50")
