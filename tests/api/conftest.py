"""Fixtures of the data-API tests: alice with two accounts (one shared with the TPP), bob with one, a consent
over alice's first account and a bearer-token client."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from tests.factories import AccountFactory, BalanceFactory, ConnectionFactory, TransactionFactory, UserFactory

from .factories import AccessTokenFactory, AuthorisedConsentFactory


@pytest.fixture(autouse=True)
def _api_settings(settings):  # type: ignore[no-untyped-def]
    settings.AGGREGATOR = {**settings.AGGREGATOR, "ACCESS_LOG_FLUSH_SECONDS": 0, "DELTA_FEED_SAFETY_LAG_SECONDS": 0}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    # Users are made by the dozen here; real password hashing would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from aggregator.api import selectors, throttles

    selectors._ACCOUNT_KEYS.clear()
    throttles._reserved.clear()  # this process's throttle reservations belong to the (cleared) cache's counters


@pytest.fixture
def alice(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="bob")


@pytest.fixture
def alice_connection(alice):  # type: ignore[no-untyped-def]
    return ConnectionFactory(user=alice)


@pytest.fixture
def shared_account(alice_connection):  # type: ignore[no-untyped-def]
    account = AccountFactory(connection=alice_connection, display_name="Alice current")
    BalanceFactory(account=account, amount=Decimal("1234.5600"))
    return account


@pytest.fixture
def unshared_account(alice_connection):  # type: ignore[no-untyped-def]
    return AccountFactory(connection=alice_connection, display_name="Alice savings")


@pytest.fixture
def bob_account(bob):  # type: ignore[no-untyped-def]
    return AccountFactory(connection=ConnectionFactory(user=bob), display_name="Bob current")


@pytest.fixture
def consent(alice, shared_account):  # type: ignore[no-untyped-def]
    return AuthorisedConsentFactory(
        user=alice,
        accounts=[shared_account],
        transactions_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        transactions_to=dt.datetime(2026, 6, 30, 23, 59, tzinfo=dt.UTC),
    )


@pytest.fixture
def token(consent):  # type: ignore[no-untyped-def]
    return AccessTokenFactory(consent=consent)


@pytest.fixture
def api(token):  # type: ignore[no-untyped-def]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    return client


def make_transactions(account, dates, **kwargs):  # type: ignore[no-untyped-def]
    return [TransactionFactory(account=account, booking_date=d, **kwargs) for d in dates]


def days(start: dt.date, n: int, step: int = 1) -> list[dt.date]:
    return [start + dt.timedelta(days=i * step) for i in range(n)]
