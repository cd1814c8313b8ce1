"""factory_boy factories shared by the whole suite (append new ones; keep them additive)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from aggregator.models import Account, Balance, Connection, Institution, SyncRun, Transaction


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.invalid")
    password = factory.django.Password("correct horse battery staple")


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"bank-{n}")
    name = factory.LazyAttribute(lambda i: f"Bank {i.slug}")
    country = "GB"
    provider = "obie"


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection

    user = factory.SubFactory(UserFactory)
    institution = factory.SubFactory(InstitutionFactory)
    status = Connection.Status.ACTIVE


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    connection = factory.SubFactory(ConnectionFactory)
    provider_account_id = factory.Sequence(lambda n: f"acc-{n:06d}")
    display_name = factory.Sequence(lambda n: f"Current account {n}")
    type = Account.Type.CURRENT
    currency = "GBP"
    sort_code = "601613"
    account_number = factory.Sequence(lambda n: f"{31926800 + n:08d}")
    holder_name = "Alice Example"


class BalanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Balance

    account = factory.SubFactory(AccountFactory)
    type = Balance.Type.BOOKED
    amount = Decimal("1234.56")
    currency = factory.SelfAttribute("account.currency")
    as_of = factory.LazyFunction(timezone.now)


class TransactionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Transaction

    account = factory.SubFactory(AccountFactory)
    provider_transaction_id = factory.Sequence(lambda n: f"txn-{n:08d}")
    status = Transaction.Status.BOOKED
    booking_date = factory.Sequence(lambda n: dt.date(2026, 1, 1) + dt.timedelta(days=n % 300))
    value_date = factory.SelfAttribute("booking_date")
    amount = Decimal("-12.34")
    currency = factory.SelfAttribute("account.currency")
    description = "CARD PAYMENT TO TESCO STORES"
    merchant_name = "Tesco"
    category = "groceries"


class SyncRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncRun

    connection = factory.SubFactory(ConnectionFactory)


# --- consent ---
class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "consent.Application"

    name = factory.Sequence(lambda n: f"TPP {n}")
    client_type = "confidential"
    authorization_grant_type = "authorization-code"
    redirect_uris = "http://tpp.example/callback"
    client_secret = "tpp-secret"


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "consent.Consent"

    application = factory.SubFactory(ApplicationFactory)
    permissions = factory.LazyFunction(lambda: ["accounts", "balances", "transactions"])
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=30))


# --- privacy (aggregator/privacy) ---
class PaymentConsentFactory(factory.django.DjangoModelFactory):
    """A consumed payment consent (the rows the payment services leave once the payment was made)."""

    class Meta:
        model = "payments.PaymentConsent"

    client_id = factory.Sequence(lambda n: f"client-{n}")
    status = "consumed"
    amount = Decimal("12.50")
    currency = "GBP"
    creditor_name = "Acme Ltd"
    creditor_sort_code = "123456"
    creditor_account_number = "12345678"
    reference = "INV-1"
    instruction_id = factory.Sequence(lambda n: f"instruction-{n}")
    end_to_end_id = factory.Sequence(lambda n: f"e2e-{n}")
    debtor_account = factory.SubFactory(AccountFactory)
    user = factory.SelfAttribute("debtor_account.connection.user")
    bank_state = factory.Sequence(lambda n: f"bank-state-{n}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(hours=1))


class AccessLogEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "consent.AccessLogEntry"

    consent = factory.SubFactory(ConsentFactory)
    application = factory.SelfAttribute("consent.application")
    at = factory.LazyFunction(timezone.now)
    method = "GET"
    endpoint = "/api/v1/accounts"
    status_code = 200
