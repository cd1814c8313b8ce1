"""The cast of the security matrices: two TPPs, two users, what each may and may not see.

``alice`` has two accounts at one connection: ``alice.shared`` (in the consents of TPP A and TPP B) and
``alice.private`` (in no consent); ``bob`` has one account, in a consent of TPP A. Tokens are named
``<tpp>@<user>`` (consent-bound, all permissions) and ``<tpp>:cc`` (client credentials, scope ``consents``), plus
``a@alice.revoked`` (its consent revoked), ``a@alice.balances`` (a consent with the balances permission only).
``World.ref("bob.account")`` turns a symbolic name of the matrix into the object's public id.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from aggregator.payments.models import Payment, PaymentConsent
from consent.models import Consent, RefreshToken
from tests.api.factories import AccessTokenFactory, AuthorisedConsentFactory, TPPFactory
from tests.factories import AccountFactory, ConnectionFactory, SyncRunFactory, TransactionFactory, UserFactory

__all__ = ["TPP_SECRET", "World", "build_world"]

TPP_SECRET = "tpp-secret"


@dataclass
class World:
    objects: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    apps: dict[str, Any] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)

    def ref(self, name: str) -> str:
        """The public id of ``name`` (``"unknown"``: a well-formed id of nothing)."""
        if name == "unknown":
            return "00000000-0000-4000-8000-000000000000"
        obj = self.objects[name]
        return str(getattr(obj, "public_id", None) or obj.pk)

    def foreign_ids(self, actor: str) -> set[str]:
        """Public ids that ``actor`` must never see in any response body."""
        mine = {
            "a@alice": {"alice.shared", "alice.shared.txn", "alice.sync", "alice.consent_a"},
            "b@alice": {"alice.shared", "alice.shared.txn", "alice.sync", "alice.consent_b"},
            "a@bob": {"bob.account", "bob.txn", "bob.sync", "bob.consent_a"},
            # A consent names its accounts: its TPP sees their ids (never their data).
            "a:cc": {
                *("alice.consent_a", "bob.consent_a", "alice.consent_a_balances", "alice.consent_a_revoked"),
                "alice.consent_a_insights",
                *("alice.shared", "bob.account", "alice.payment_consent", "alice.payment"),
            },
            "b:cc": {"alice.consent_b", "alice.shared"},
        }.get(actor)
        if mine is None:
            return set()
        return {self.ref(name) for name in self.objects if name not in mine}


def _user_world(world: World, name: str) -> Any:
    user = UserFactory(username=name)
    connection = ConnectionFactory(user=user, last_synced_at=timezone.now())
    world.objects[f"{name}.connection"] = connection
    world.objects[f"{name}.sync"] = SyncRunFactory(connection=connection)
    return user, connection


def build_world() -> World:
    world = World()
    tpp_a = TPPFactory(name="TPP A", client_secret=TPP_SECRET)
    tpp_b = TPPFactory(name="TPP B", client_secret=TPP_SECRET)
    world.apps = {"a": tpp_a, "b": tpp_b}
    alice, alice_connection = _user_world(world, "alice")
    bob, bob_connection = _user_world(world, "bob")
    shared = AccountFactory(connection=alice_connection, display_name="Alice shared")
    private = AccountFactory(connection=alice_connection, display_name="Alice private")
    bob_account = AccountFactory(connection=bob_connection, display_name="Bob current")
    world.objects.update(
        {
            "alice.shared": shared,
            "alice.private": private,
            "bob.account": bob_account,
            "alice.shared.txn": TransactionFactory(account=shared, booking_date=dt.date(2026, 2, 1)),
            "alice.private.txn": TransactionFactory(account=private, booking_date=dt.date(2026, 2, 1)),
            "bob.txn": TransactionFactory(account=bob_account, booking_date=dt.date(2026, 2, 1)),
        }
    )
    consents = {
        "alice.consent_a": AuthorisedConsentFactory(application=tpp_a, user=alice, accounts=[shared]),
        "alice.consent_b": AuthorisedConsentFactory(application=tpp_b, user=alice, accounts=[shared]),
        "bob.consent_a": AuthorisedConsentFactory(application=tpp_a, user=bob, accounts=[bob_account]),
        "alice.consent_a_balances": AuthorisedConsentFactory(
            application=tpp_a, user=alice, accounts=[shared], permissions=["balances"]
        ),
        "alice.consent_a_revoked": AuthorisedConsentFactory(application=tpp_a, user=alice, accounts=[shared]),
        "alice.consent_a_insights": AuthorisedConsentFactory(
            application=tpp_a, user=alice, accounts=[shared], permissions=["insights"]
        ),
    }
    world.objects.update(consents)
    refresh_for = {"a@alice"}
    for token_name, consent_name in [
        ("a@alice", "alice.consent_a"),
        ("b@alice", "alice.consent_b"),
        ("a@bob", "bob.consent_a"),
        ("a@alice.balances", "alice.consent_a_balances"),
        ("a@alice.revoked", "alice.consent_a_revoked"),
        ("a@alice.insights", "alice.consent_a_insights"),
    ]:
        access = AccessTokenFactory(consent=consents[consent_name])
        world.tokens[token_name] = access.token
        if token_name in refresh_for:
            refresh = RefreshToken.objects.create(
                user=access.user,
                application=access.application,
                access_token=access,
                consent=access.consent,
                token=secrets.token_urlsafe(30),
            )
            world.refresh_tokens[token_name] = refresh.token
    Consent.objects.filter(pk=consents["alice.consent_a_revoked"].pk).update(status=Consent.Status.REVOKED)
    for tpp, app in world.apps.items():
        world.tokens[f"{tpp}:cc"] = AccessTokenFactory(
            consent=None, user=None, application=app, scope="consents", token=secrets.token_urlsafe(30)
        ).token
    # TPP A's payment consent from alice's shared account, and its payment (rows as the payment services leave them).
    payment_consent = PaymentConsent.objects.create(
        client_id=tpp_a.client_id,
        status=PaymentConsent.Status.CONSUMED,
        amount=Decimal("12.50"),
        currency="GBP",
        creditor_name="Acme Ltd",
        creditor_sort_code="123456",
        creditor_account_number="12345678",
        reference="INV-1",
        instruction_id="matrix-instruction",
        end_to_end_id="matrix-e2e",
        user=alice,
        debtor_account=shared,
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    world.objects["alice.payment_consent"] = payment_consent
    world.objects["alice.payment"] = Payment.objects.create(
        consent=payment_consent,
        client_id=tpp_a.client_id,
        idempotency_key="matrix-key",
        request_hash="0" * 64,
        bank_idempotency_key="matrix-bank-key",
        end_to_end_id="matrix-e2e",
        amount=payment_consent.amount,
        currency="GBP",
    )
    world.tokens["expired"] = AccessTokenFactory(
        consent=consents["alice.consent_a"], expires=timezone.now() - dt.timedelta(seconds=1)
    ).token
    return world
