"""What staff and users see of payments: the admin (filters, event trail, linked transaction), the user's
dashboard, and ``payment_id`` on the transaction resources of the data API."""

from __future__ import annotations

import pytest
from django.test import Client

from aggregator.payments.models import Payment
from aggregator.payments.outbox import payment_submit
from aggregator.payments.reconcile import payments_reconcile
from aggregator.payments.services import payment_create
from tests.api.factories import AccessTokenFactory, AuthorisedConsentFactory
from tests.factories import TransactionFactory, UserFactory

from .conftest import INSTRUCTION, bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def reconciled(authorised, alice_account):  # type: ignore[no-untyped-def]
    payment, _ = payment_create(consent=authorised.payment_consent, client_id=authorised.application.client_id,
                                idempotency_key="k", instruction=INSTRUCTION)  # fmt: skip
    payment_submit(payment=payment)
    debit = TransactionFactory(account=alice_account, amount=-payment.amount, booking_date=payment.created_at.date(),
                               raw={"endToEndId": payment.end_to_end_id})  # fmt: skip
    TransactionFactory(account=alice_account, amount="-1.00", booking_date=payment.created_at.date())
    assert payments_reconcile(connection_id=alice_account.connection_id) == 1
    return Payment.objects.get(pk=payment.pk), debit


def test_the_transaction_resources_name_the_payment(reconciled, alice, alice_account, pay_bank):
    payment, debit = reconciled
    data = bearer(AccessTokenFactory(consent=AuthorisedConsentFactory(user=alice, accounts=[alice_account])))
    page = data.get(f"/api/v1/accounts/{alice_account.public_id}/transactions").json()["data"]
    by_id = {row["id"]: row["payment_id"] for row in page}
    assert by_id[str(debit.public_id)] == str(payment.public_id)
    assert sorted(v for v in by_id.values() if v is None) == [None]
    feed = data.get("/api/v1/transactions/sync").json()["data"]["added"]
    assert {row["id"]: row["payment_id"] for row in feed} == by_id


def test_the_dashboard_lists_the_payments_the_user_approved(reconciled, alice):
    browser = Client()
    browser.force_login(alice)
    html = browser.get("/me/consents/").content.decode()
    assert "Payments you approved" in html and "42.50 GBP" in html and "Acme Energy Ltd" in html
    assert f'id="payment-{reconciled[0].consent.public_id}"' in html and "Settled" in html
    other = Client()
    other.force_login(UserFactory(username="carol"))
    assert "Acme Energy Ltd" not in other.get("/me/consents/").content.decode()


def test_the_admin_shows_payments_filtered_with_their_trail_and_transaction(reconciled):
    payment, debit = reconciled
    staff = Client()
    staff.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    listing = staff.get("/admin/payments/payment/", {"status": "settled", "bank": "fake-pay-bank"})
    assert listing.status_code == 200 and str(payment.public_id) in listing.content.decode()
    assert str(payment.public_id) not in staff.get("/admin/payments/payment/", {"status": "rejected"}).content.decode()
    detail = staff.get(f"/admin/payments/payment/{payment.pk}/change/").content.decode()
    assert f"/admin/aggregator/transaction/{debit.pk}/change/" in detail
    assert "bank.submitted" in detail and "reconciled" in detail
    consent_page = staff.get(f"/admin/payments/paymentconsent/{payment.consent_id}/change/")
    assert consent_page.status_code == 200 and "pay-token" not in consent_page.content.decode()
