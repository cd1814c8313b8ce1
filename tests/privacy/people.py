"""A person with a bit of everything we can hold about someone, each piece marked with text unique to them, so an
export can be checked for completeness and an erasure for traces (``needles``)."""

from __future__ import annotations

import datetime as dt
import secrets
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from aggregator.connections.models import PendingAuthorization
from aggregator.insights.models import CategoryCorrection, Counterparty, TransactionEnrichment
from aggregator.models import Account
from aggregator.payments.models import Payment, PaymentEvent
from consent.models import AccessToken, Consent, RefreshToken
from consent.services import consent_authorise
from tests.factories import (
    AccessLogEntryFactory,
    AccountFactory,
    ApplicationFactory,
    BalanceFactory,
    ConnectionFactory,
    ConsentFactory,
    InstitutionFactory,
    PaymentConsentFactory,
    SyncRunFactory,
    TransactionFactory,
    UserFactory,
)

__all__ = ["Person", "person"]


@dataclass
class Person:
    user: Any
    accounts: list[Account]
    consent: Consent
    descriptions: list[str]
    needles: list[str] = field(default_factory=list)


def person(tag: str, *, app: Any = None, institution: Any = None) -> Person:
    """``tag`` (letters only) makes every identifying value of this person unique in the database."""
    first, last = f"Wilhelmina{tag}", f"Quarterbridge{tag}"
    user = UserFactory(
        username=f"wq{tag.lower()}", email=f"w.{tag.lower()}@mail.example", first_name=first, last_name=last
    )
    connection = ConnectionFactory(
        user=user,
        institution=institution or InstitutionFactory(),
        encrypted_credentials="",
        upstream_consent_id=f"bank-consent-{tag}",
    )
    digits = str(zlib.crc32(tag.encode()) % 10**8).zfill(8)
    accounts = [
        AccountFactory(
            connection=connection,
            iban=f"GB29NWBK6016{digits}{i}",
            account_number=f"{digits[:-1]}{i}",
            holder_name=f"{first} {last}",
            raw={"Nickname": f"{first}'s pot {i}"},
        )
        for i in range(2)
    ]
    descriptions = []
    for i, account in enumerate(accounts):
        BalanceFactory(account=account, amount=Decimal("100.00") + i)
        for j in range(3):
            text = f"TRANSFER {tag} REF{j}{i} ZQX"
            descriptions.append(text)
            txn = TransactionFactory(
                account=account,
                description=text,
                counterparty_name=f"{first} {last}",
                raw={"RemittanceInformation": text},
            )
            if j == 0:
                cp, _ = Counterparty.objects.get_or_create(
                    key=f"shop{tag.lower()}",
                    defaults={"public_id": f"cp_{secrets.token_hex(8)}", "name": f"Shop of {last}", "type": "merchant"},
                )
                TransactionEnrichment.objects.create(
                    transaction=txn,
                    category_primary="FOOD",
                    category_detailed="FOOD_GROCERIES",
                    confidence="high",
                    source="rule",
                    probability=0.9,
                    counterparty=cp,
                    taxonomy_version="1",
                    updated_at=timezone.now(),
                )
                CategoryCorrection.objects.get_or_create(
                    user=user, counterparty=cp, defaults={"category_detailed": "FOOD_GROCERIES"}
                )
    SyncRunFactory(connection=connection, outcome="succeeded", error_detail=f"note about {last}")

    consent = consent_authorise(
        consent=ConsentFactory(application=app or ApplicationFactory(webhook_url="https://tpp.example/hook")),
        user=user,
        accounts=accounts,
    )
    AccessLogEntryFactory(consent=consent, endpoint=f"/api/v1/accounts/{accounts[0].public_id}/transactions")
    AccessLogEntryFactory(consent=consent, endpoint="/api/v1/accounts")
    token = AccessToken.objects.create(
        user=user,
        consent=consent,
        application=consent.application,
        token=secrets.token_urlsafe(30),
        scope="accounts",
        expires=timezone.now() + dt.timedelta(minutes=5),
    )
    RefreshToken.objects.create(
        user=user, consent=consent, application=consent.application, token=secrets.token_urlsafe(30), access_token=token
    )

    payment_consent = PaymentConsentFactory(
        debtor_account=accounts[0], user=user, client_id=consent.application.client_id
    )
    payment = Payment.objects.create(
        consent=payment_consent,
        client_id=payment_consent.client_id,
        idempotency_key=f"key-{tag}",
        request_hash="0" * 64,
        bank_idempotency_key=f"bank-key-{tag}",
        end_to_end_id=payment_consent.end_to_end_id,
        amount=payment_consent.amount,
        currency="GBP",
        status="settled",
    )
    PaymentEvent.objects.create(consent=payment_consent, payment=payment, kind="settled", to_status="settled")
    PendingAuthorization.objects.create(
        state=f"state-{tag}",
        user=user,
        institution=connection.institution,
        redirect_uri="https://agg.example/connect/callback",
        payload="x",
        next_url=f"/me/?who={last}",
        expires_at=timezone.now(),
    )
    LogEntry.objects.create(
        user=UserFactory(username=f"staff{tag.lower()}", is_staff=True),
        content_type=ContentType.objects.get_for_model(type(user)),
        object_id=str(user.pk),
        object_repr=user.username,
        action_flag=CHANGE,
        change_message="[]",
    )
    needles = [user.username, user.email, first, last, *descriptions]
    needles += [a.iban for a in accounts] + [a.account_number for a in accounts] + [f"bank-consent-{tag}"]
    return Person(user=user, accounts=accounts, consent=consent, descriptions=descriptions, needles=needles)
