"""The payment endpoints of the TPP API, and the negative matrix: wrong token kind, wrong TPP, tampering, reuse."""

from __future__ import annotations

import pytest

from aggregator.payments.models import Payment, PaymentConsent
from aggregator.payments.outbox import payment_refresh_status, payment_submit
from aggregator.payments.reconcile import payments_reconcile
from aggregator.webhooks.models import WebhookEvent
from tests.api.factories import AccessTokenFactory, AuthorisedConsentFactory, TPPFactory
from tests.factories import TransactionFactory

from .conftest import INSTRUCTION, bearer, client_token, consent_token

pytestmark = pytest.mark.django_db


def _post_payment(client, key="key-1", **changes):  # type: ignore[no-untyped-def]
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post("/api/v1/payments", {**INSTRUCTION, **changes}, format="json", **headers)


def test_a_tpp_creates_a_payment_consent_and_reads_it_back(tpp, pay_bank):
    client = bearer(client_token(tpp))
    response = client.post("/api/v1/payment-consents", INSTRUCTION, format="json")
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["status"] == "awaiting_authorisation" and data["amount"] == "42.50"
    assert data["creditor"] == {"name": "Acme Energy Ltd", "iban": "", "sort_code": "200000",
                                "account_number": "55779911"}  # fmt: skip
    assert data["authorize_url"] == f"/oauth/authorize/?consent_id={data['id']}&scope=payments"
    assert response["Location"] == f"/api/v1/payment-consents/{data['id']}"
    again = client.get(response["Location"])
    assert again.status_code == 200 and again.json()["data"]["id"] == data["id"]


def test_a_bad_instruction_is_a_400_with_the_field(tpp, pay_bank):
    response = bearer(client_token(tpp)).post(
        "/api/v1/payment-consents", {**INSTRUCTION, "creditor_sort_code": "12"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "creditor_sort_code"


def test_a_payment_is_made_once_per_key_and_read_back(payer, authorised, pay_bank):
    first = _post_payment(payer)
    assert first.status_code == 201, first.content
    body = first.json()["data"]
    assert body["status"] == "pending" and body["payment_consent_id"] == str(authorised.pk)
    replay = _post_payment(payer)
    assert replay.status_code == 200 and replay.json()["data"] == body
    assert Payment.objects.count() == 1
    payment = Payment.objects.get()
    payment_submit(payment=payment)
    read = payer.get(f"/api/v1/payments/{body['id']}").json()["data"]
    assert (read["status"], read["bank_status"], read["transaction_id"]) == (
        "accepted",
        "AcceptedSettlementInProcess",
        None,
    )


def test_the_same_key_with_another_body_is_a_422(payer, pay_bank):
    assert _post_payment(payer).status_code == 201
    response = _post_payment(payer, reference="CHANGED")
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "idempotency_key_reused"


def test_a_second_payment_under_the_same_consent_is_a_409(payer, pay_bank):
    assert _post_payment(payer, key="k1").status_code == 201
    response = _post_payment(payer, key="k2")
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "payment_consent_consumed"


@pytest.mark.parametrize(
    ("change", "field"),
    [({"amount": "4250.00"}, "amount"), ({"creditor_name": "Mallory"}, "creditor_name"),
     ({"creditor_account_number": "11111111"}, "creditor_account_number")],
)  # fmt: skip
def test_amount_or_payee_tampering_after_approval_is_refused(payer, pay_bank, change, field):
    response = _post_payment(payer, **change)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["code"], error["field"]) == ("instruction_mismatch", field)
    assert not Payment.objects.exists()


@pytest.mark.parametrize(("key", "code"), [(None, "idempotency_key_missing"), ("bad key", "idempotency_key_invalid")])
def test_a_missing_or_invalid_idempotency_key_is_a_400(payer, pay_bank, key, code):
    response = _post_payment(payer, key=key)
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == code


def test_an_expired_payment_consent_is_refused(payer, authorised, pay_bank):
    PaymentConsent.objects.filter(pk=authorised.payment_consent_id).update(expires_at="2020-01-01T00:00:00Z")
    response = _post_payment(payer)
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "payment_consent_expired"


def test_an_expired_oauth_consent_refuses_its_token(payer, authorised, pay_bank):
    type(authorised).objects.filter(pk=authorised.pk).update(expires_at="2020-01-01T00:00:00Z")
    response = _post_payment(payer)
    assert response.status_code == 401 and response.json()["errors"][0]["code"] == "consent_expired"


def test_a_data_token_can_never_pay(alice, pay_bank, alice_account):
    data_token = AccessTokenFactory(consent=AuthorisedConsentFactory(user=alice, accounts=[alice_account]))
    client = bearer(data_token)
    response = _post_payment(client)
    assert response.status_code == 403 and response.json()["errors"][0]["code"] == "permission_missing"
    for path in ("/api/v1/payments/00000000-0000-0000-0000-000000000000",
                 "/api/v1/payment-consents/00000000-0000-0000-0000-000000000000",
                 "/api/v1/payment-consents/00000000-0000-0000-0000-000000000000/funds-confirmation"):  # fmt: skip
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert refused.json()["errors"][0]["code"] == "permission_missing"


@pytest.mark.parametrize(
    "path",
    ["/api/v1/accounts", "/api/v1/transactions/sync", f"/api/v1/consents/{'0' * 8}-0000-0000-0000-{'0' * 12}/refresh"],
)
def test_a_payment_token_reads_no_data(payer, pay_bank, path):
    response = payer.post(path) if path.endswith("refresh") else payer.get(path)
    assert response.status_code == 403 and response.json()["errors"][0]["code"] == "permission_missing"


def test_a_payment_token_reads_only_its_own_payment(tpp, payer, pay_bank, alice, alice_account):
    from .conftest import authorised_payment_consent

    other = authorised_payment_consent(tpp, alice, alice_account, amount="1.00")
    other_payment = _post_payment(bearer(consent_token(other)), key="other", amount="1.00").json()["data"]
    assert payer.get(f"/api/v1/payments/{other_payment['id']}").status_code == 404
    assert payer.get(f"/api/v1/payment-consents/{other.pk}").status_code == 404


def test_another_tpp_sees_nothing(payer, authorised, pay_bank):
    mine = _post_payment(payer).json()["data"]
    stranger = bearer(client_token(TPPFactory()))
    for path in (f"/api/v1/payments/{mine['id']}", f"/api/v1/payment-consents/{authorised.pk}"):
        response = stranger.get(path)
        assert response.status_code == 404, path
    owner = bearer(client_token(authorised.application))
    assert owner.get(f"/api/v1/payments/{mine['id']}").json()["data"]["id"] == mine["id"]


def test_funds_confirmation_where_the_bank_offers_it(payer, authorised, pay_bank):
    response = payer.get(f"/api/v1/payment-consents/{authorised.pk}/funds-confirmation")
    assert response.status_code == 200 and response.json()["data"]["funds_available"] is True
    pay_bank.funds = False
    response = payer.get(f"/api/v1/payment-consents/{authorised.pk}/funds-confirmation")
    assert response.json()["data"]["funds_available"] is False


def test_funds_confirmation_is_not_supported_everywhere(payer, authorised, pay_bank, monkeypatch):
    from tests.payments.fakes import FakePayAdapter

    monkeypatch.setattr(FakePayAdapter, "supports_funds_confirmation", False)
    response = payer.get(f"/api/v1/payment-consents/{authorised.pk}/funds-confirmation")
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "not_supported"


def test_status_changes_reach_the_tpp_as_webhooks_and_the_debit_links_back(
    payer, authorised, alice_account, pay_bank, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        body = _post_payment(payer).json()["data"]
    payment = Payment.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        payment_submit(payment=payment)
    events = list(WebhookEvent.objects.filter(type="payment.status_changed").order_by("created_at"))
    assert [e.payload["status"] for e in events] == ["accepted"]
    assert events[0].payload["payment_id"] == body["id"] and "Acme" not in str(events[0].payload)
    debit = TransactionFactory(
        account=alice_account,
        amount=-payment.amount,
        currency="GBP",
        booking_date=payment.created_at.date(),
        description="ACME ENERGY LTD INV-2026-0042",
        raw={"EndToEndIdentification": payment.end_to_end_id},
    )
    TransactionFactory(account=alice_account, amount=-payment.amount, booking_date=payment.created_at.date())
    with django_capture_on_commit_callbacks(execute=True):
        assert payments_reconcile(connection_id=alice_account.connection_id) == 1
    read = payer.get(f"/api/v1/payments/{body['id']}").json()["data"]
    assert (read["status"], read["transaction_id"]) == ("settled", str(debit.public_id))
    assert WebhookEvent.objects.filter(type="payment.status_changed").count() == 2
    payment_refresh_status(payment=payment)  # final: the bank is not asked again
    assert pay_bank.calls.count("get") == 0
