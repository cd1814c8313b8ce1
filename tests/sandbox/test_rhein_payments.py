"""Rhein's Berlin Group NextGenPSD2 v1.3.11 payments: every response (success and error) validated against the
official file; X-Request-ID idempotency, the RCVD → ACTC → ACSC / RJCT lifecycle on the sandbox clock with
its reason codes, the SCA through the bank's login, and the debit in the ground truth."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from providers.sandbox import bankdata
from providers.sandbox.bankdata import user_accounts
from providers.sandbox.clock import clock_advance
from providers.sandbox.models import SandboxPayment

from .banking import RHEIN, assert_conforms, authorize, connect, demo_clients, exchange, rhein_headers  # noqa: F401
from .pis import rhein_payment_body, rhein_payment_post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_clients")]


def _get(client, path: str):  # type: ignore[no-untyped-def]
    response = client.get(f"{RHEIN}/payments/{path}", HTTP_X_REQUEST_ID=str(uuid.uuid4()))
    assert_conforms("rhein", response)
    return response


def _initiate(client, username: str = "alice", product: str = "sepa-credit-transfers", **overrides):  # type: ignore[no-untyped-def]
    response = rhein_payment_post(client, rhein_payment_body(username, **overrides), product=product)
    assert_conforms("rhein", response)
    assert response.status_code == 201, response.content
    return response.json()


def _sca(client, payment_id: str, username: str = "alice", action: str = "approve") -> dict:  # type: ignore[no-untyped-def]
    account = user_accounts("rhein", username)[0]
    return authorize(
        client, "rhein", scope=f"PIS:{payment_id}", username=username, accounts=[account.id], action=action
    )


def test_a_payment_is_received_released_by_the_sca_and_settles_on_the_clock(client):
    created = _initiate(client)
    pid = created["paymentId"]
    assert created["transactionStatus"] == "RCVD"
    assert created["_links"]["scaOAuth"]["href"].endswith("/sandbox/rhein/.well-known/oauth-authorization-server")
    start = client.post(
        f"{RHEIN}/payments/sepa-credit-transfers/{pid}/authorisations", HTTP_X_REQUEST_ID=str(uuid.uuid4())
    )
    assert_conforms("rhein", start)
    assert start.status_code == 201 and start.json()["scaStatus"] == "received"
    listed = _get(client, f"sepa-credit-transfers/{pid}/authorisations").json()
    assert listed == {"authorisationIds": [start.json()["authorisationId"]]}

    redirect = _sca(client, pid)
    tokens = exchange(client, "rhein", redirect["code"]).json()
    assert f"PIS:{pid}" in tokens["scope"].split()
    assert _get(client, f"sepa-credit-transfers/{pid}/status").json()["transactionStatus"] == "ACTC"
    sca = _get(client, f"sepa-credit-transfers/{pid}/authorisations/{start.json()['authorisationId']}").json()
    assert sca["scaStatus"] == "finalised"
    clock_advance(61)
    detail = _get(client, f"sepa-credit-transfers/{pid}").json()
    assert detail["transactionStatus"] == "ACSC" and detail["creditorName"] == "Robert Brennan"


def test_a_settled_payment_is_a_booked_debit_with_end_to_end_id_and_reference_in_the_ais_api(client):
    body = rhein_payment_body()
    created = rhein_payment_post(client, body).json()
    _sca(client, created["paymentId"])
    account = user_accounts("rhein", "alice")[0]
    clock_advance(61)
    out = StringIO()
    call_command("sandbox_export", "rhein", "alice", stdout=out)
    truth = json.loads(out.getvalue())
    entries = [t for a in truth["accounts"] for t in a["transactions"] if t["end_to_end_id"]]
    assert [(t["status"], t["amount"], t["end_to_end_id"]) for t in entries] == [
        ("booked", "-12.50", body["endToEndIdentification"])
    ]
    tokens = connect(client, "rhein")
    since = (bankdata.sandbox_now() - timedelta(days=1)).date().isoformat()
    listing = client.get(
        f"{RHEIN}/accounts/{account.id}/transactions?bookingStatus=both&dateFrom={since}",
        **rhein_headers(tokens["access_token"], tokens["consent_id"], psu_present=True),
    )
    assert_conforms("rhein", listing)
    booked = [t for t in listing.json()["transactions"]["booked"] if t.get("endToEndId")]
    assert [
        (t["endToEndId"], t["remittanceInformationUnstructured"], t["transactionAmount"]["amount"]) for t in booked
    ] == [(body["endToEndIdentification"], "Invoice 42", "-12.50")]


def test_the_same_x_request_id_returns_the_same_payment_and_another_body_is_refused(client):
    body = rhein_payment_body()
    rid = str(uuid.uuid4())
    first = rhein_payment_post(client, body, request_id=rid)
    again = rhein_payment_post(client, body, request_id=rid)
    assert_conforms("rhein", again)
    assert again.status_code == 201 and again.json()["paymentId"] == first.json()["paymentId"]
    other = rhein_payment_post(client, {**body, "creditorName": "Somebody"}, request_id=rid)
    assert_conforms("rhein", other)
    assert other.status_code == 400
    assert other.json()["tppMessages"][0]["code"] == "PARAMETER_NOT_CONSISTENT"


def test_a_timeout_after_accepting_is_recovered_with_the_same_x_request_id(client):
    body = rhein_payment_body("timothy")
    rid = str(uuid.uuid4())
    lost = rhein_payment_post(client, body, request_id=rid)
    assert lost.status_code == 504
    retry = rhein_payment_post(client, body, request_id=rid)
    assert_conforms("rhein", retry)
    assert retry.status_code == 201
    assert SandboxPayment.objects.filter(bank="rhein", username="timothy").count() == 1


@pytest.mark.parametrize(
    ("username", "overrides", "reason"),
    [
        ("penny", {}, "AM04"),
        ("alice", {"creditorName": "Not Bob"}, "BE01"),
        ("alice", {"instructedAmount": {"currency": "USD", "amount": "5.00"}}, "AM11"),
    ],
)
def test_refusals_are_rjct_with_their_iso_reason_code(client, username, overrides, reason):
    created = _initiate(client, username, **overrides)
    _sca(client, created["paymentId"], username)
    status = _get(client, f"sepa-credit-transfers/{created['paymentId']}/status").json()
    assert status["transactionStatus"] == "RJCT"
    assert status["psuMessage"].startswith(f"{reason}: ")
    account = user_accounts("rhein", username)[0]
    assert not [t for t in bankdata.account_transactions("rhein", username, account.id) if t.end_to_end_id]


def test_a_psu_refusal_rejects_the_payment_and_a_slow_users_payment_waits_a_day(client):
    refused = _initiate(client)
    _sca(client, refused["paymentId"], action="deny")
    assert _get(client, f"sepa-credit-transfers/{refused['paymentId']}/status").json()["transactionStatus"] == "RJCT"

    slow = _initiate(client, "patience", product="instant-sepa-credit-transfers")
    _sca(client, slow["paymentId"], "patience")
    path = f"instant-sepa-credit-transfers/{slow['paymentId']}/status"
    assert _get(client, path).json()["transactionStatus"] == "PDNG"
    clock_advance(3600)
    assert _get(client, path).json()["transactionStatus"] == "PDNG"
    clock_advance(int(timedelta(days=1).total_seconds()))
    assert _get(client, path).json()["transactionStatus"] == "ACSC"


def test_an_instant_payment_settles_in_seconds(client):
    created = _initiate(client, product="instant-sepa-credit-transfers")
    _sca(client, created["paymentId"])
    clock_advance(11)
    path = f"instant-sepa-credit-transfers/{created['paymentId']}/status"
    assert _get(client, path).json()["transactionStatus"] == "ACSC"


def test_bad_input_is_refused_in_the_specs_error_shape(client):
    good = rhein_payment_body()
    cases = [
        (rhein_payment_post(client, {**good, "creditorName": None}), 400, "FORMAT_ERROR"),
        (rhein_payment_post(client, {k: v for k, v in good.items() if k != "debtorAccount"}), 400, "FORMAT_ERROR"),
        (
            rhein_payment_post(client, {**good, "instructedAmount": {"currency": "EUR", "amount": "-1"}}),
            400,
            "FORMAT_ERROR",
        ),
        (rhein_payment_post(client, {**good, "debtorAccount": {"iban": "DE00123"}}), 400, "FORMAT_ERROR"),
        (rhein_payment_post(client, good, product="target-2-payments"), 404, "PRODUCT_UNKNOWN"),
        (
            client.post(
                f"{RHEIN}/payments/sepa-credit-transfers",
                "{",
                content_type="application/json",
                HTTP_X_REQUEST_ID=str(uuid.uuid4()),
            ),
            400,
            "FORMAT_ERROR",
        ),
        (
            client.get(f"{RHEIN}/payments/sepa-credit-transfers/nope/status", HTTP_X_REQUEST_ID=str(uuid.uuid4())),
            403,
            "RESOURCE_UNKNOWN",
        ),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (response.wsgi_request.path, response.content)
        assert_conforms("rhein", response)
        assert response.json()["tppMessages"][0]["code"] == code
    created = _initiate(client)
    _sca(client, created["paymentId"])
    again = client.post(
        f"{RHEIN}/payments/sepa-credit-transfers/{created['paymentId']}/authorisations",
        HTTP_X_REQUEST_ID=str(uuid.uuid4()),
    )
    assert_conforms("rhein", again)
    assert again.status_code == 409
