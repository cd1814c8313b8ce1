"""Factories for the data-API tests: a TPP, an authorised consent and an access token bound to it.

Kept here (not in tests/factories.py) so the API tests build tokens directly, independent of the consent screen
and of the consent area's own factories.
"""

from __future__ import annotations

import datetime as dt
import secrets

import factory
from django.utils import timezone

from consent.models import AccessToken, Consent
from tests.factories import ApplicationFactory, ConsentFactory, UserFactory

__all__ = ["AccessTokenFactory", "AuthorisedConsentFactory", "TPPFactory"]


class TPPFactory(ApplicationFactory):
    name = factory.Sequence(lambda n: f"API test TPP {n}")


class AuthorisedConsentFactory(ConsentFactory):
    class Meta:
        skip_postgeneration_save = True

    application = factory.SubFactory(TPPFactory)
    user = factory.SubFactory(UserFactory)
    status = Consent.Status.AUTHORISED
    transactions_from = factory.LazyFunction(lambda: dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    transactions_to = factory.LazyFunction(lambda: dt.datetime(2027, 12, 31, tzinfo=dt.UTC))
    authorised_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def accounts(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create and extracted:
            self.accounts.set(extracted)


class AccessTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccessToken

    consent = factory.SubFactory(AuthorisedConsentFactory)
    user = factory.SelfAttribute("consent.user")
    application = factory.SelfAttribute("consent.application")
    token = factory.LazyFunction(lambda: secrets.token_urlsafe(30))
    scope = factory.LazyAttribute(lambda t: " ".join(t.consent.permissions) if t.consent else "consents")
    expires = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(minutes=5))
