"""Fixtures of the compliance-clock tests: the sandbox clock moved by whole days, banks of each regime, and a
consent authorised through the real service (so its clocks start the way they do in production)."""

from __future__ import annotations

import pytest

from consent.models import Consent
from consent.services import consent_authorise
from tests.api.factories import AccessTokenFactory
from tests.factories import AccountFactory, ConnectionFactory, ConsentFactory, InstitutionFactory, UserFactory

DAY = 86400


@pytest.fixture(autouse=True)
def _settings(settings):  # type: ignore[no-untyped-def]
    # Access-log rows written in the request (not by a background flush after the test database is gone).
    settings.AGGREGATOR = {**settings.AGGREGATOR, "ACCESS_LOG_FLUSH_SECONDS": 0}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def days(settings):  # type: ignore[no-untyped-def]
    """``days(n)`` moves the compliance clock (the sandbox clock) ``n`` days on; the clock is restored after."""
    from providers.sandbox.clock import clock_advance, clock_offset, clock_set_offset

    settings.AGGREGATOR = {**settings.AGGREGATOR, "COMPLIANCE_CLOCK": "sandbox"}
    before = clock_offset()

    def advance(n: float) -> None:
        clock_advance(int(n * DAY))

    yield advance
    clock_set_offset(before)


@pytest.fixture
def uk_bank():  # type: ignore[no-untyped-def]
    return InstitutionFactory(slug="albion-test", name="Albion Bank", country="GB")


@pytest.fixture
def eu_bank():  # type: ignore[no-untyped-def]
    return InstitutionFactory(slug="rhein-test", name="Rhein Bank", country="DE", provider="berlin_group")


@pytest.fixture
def us_bank():  # type: ignore[no-untyped-def]
    return InstitutionFactory(slug="liberty-test", name="Liberty Bank", country="US", provider="fdx")


@pytest.fixture
def user():  # type: ignore[no-untyped-def]
    return UserFactory(email="pat@example.invalid")


def account_at(institution, user, **connection_fields):  # type: ignore[no-untyped-def]
    connection = ConnectionFactory(user=user, institution=institution, **connection_fields)
    return AccountFactory(connection=connection, currency="GBP" if institution.country == "GB" else "EUR")


def authorised(user, *accounts, **consent_fields) -> Consent:  # type: ignore[no-untyped-def]
    """A consent the user approved over ``accounts`` through ``consent_authorise``."""
    consent = ConsentFactory(**consent_fields)
    return consent_authorise(consent=consent, user=user, accounts=list(accounts))


def bearer(consent: Consent) -> str:
    return f"Bearer {AccessTokenFactory(consent=consent).token}"
