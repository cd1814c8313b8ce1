"""Conformance sweep: success and error responses of every endpoint against the official OpenAPI files (OBIE
v3.1.11, Berlin Group 1.3.11) and our liberty.yaml; the validator is shown to reject a broken body; and what
each bank serves for alice agrees with ``sandbox_export`` (the ground truth)."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from openapi_core.validation.response.exceptions import InvalidData

from .banking import (
    ALBION,
    LIBERTY,
    RHEIN,
    albion_client_token,
    assert_conforms,
    connect,
    demo_clients,  # noqa: F401  (fixture)
    rhein_headers,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_clients")]


def test_validator_rejects_a_response_that_breaks_the_spec(client):
    tokens = connect(client, "albion")
    response = client.get(f"{ALBION}/accounts", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert_conforms("albion", response)
    body = response.json()
    body["Data"]["Account"][0]["AccountSubType"] = "Piggybank"
    response.content = json.dumps(body).encode()
    with pytest.raises(InvalidData):
        assert_conforms("albion", response)


def test_validator_rejects_a_missing_required_header(client):
    tokens = connect(client, "rhein")
    response = client.get(f"{RHEIN}/accounts", **rhein_headers(tokens["access_token"], tokens["consent_id"]))
    assert_conforms("rhein", response)
    del response["X-Request-ID"]
    with pytest.raises(Exception, match="X-Request-ID"):
        assert_conforms("rhein", response)


def test_albion_error_responses_conform(client):
    tokens = connect(client, "albion")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    cc = {"HTTP_AUTHORIZATION": f"Bearer {albion_client_token(client)}"}
    account_id = client.get(f"{ALBION}/accounts", **auth).json()["Data"]["Account"][0]["AccountId"]
    cases = [
        (client.get(f"{ALBION}/accounts"), 401),
        (client.get(f"{ALBION}/accounts", HTTP_AUTHORIZATION="Bearer nope"), 401),
        (client.get(f"{ALBION}/accounts/nope", **auth), 403),
        (client.get(f"{ALBION}/accounts/{account_id}/transactions?fromBookingDateTime=yesterday", **auth), 400),
        (client.get(f"{ALBION}/accounts/{account_id}/transactions?page=999", **auth), 400),
        (client.get(f"{ALBION}/account-access-consents/nope", **cc), 400),
        (client.post(f"{ALBION}/account-access-consents", "{", content_type="application/json", **cc), 400),
    ]
    for response, status in cases:
        assert response.status_code == status, (response.wsgi_request.path, response.content)
        assert_conforms("albion", response)
        assert response["x-fapi-interaction-id"]
    # methods the spec does not define (nothing to validate against): 405, still with the interaction id
    not_allowed = client.post(f"{ALBION}/accounts", **auth)
    assert not_allowed.status_code == 405 and not_allowed["x-fapi-interaction-id"]


def test_rhein_error_responses_conform(client):
    tokens = connect(client, "rhein")
    good = rhein_headers(tokens["access_token"], tokens["consent_id"])
    rid = {"HTTP_X_REQUEST_ID": str(uuid.uuid4())}
    cases = [
        (client.get(f"{RHEIN}/accounts", **rid), 400),  # no Consent-ID
        (client.get(f"{RHEIN}/accounts", **{**good, "HTTP_AUTHORIZATION": "Bearer nope"}), 401),
        (client.get(f"{RHEIN}/accounts/nope/balances", **good), 403),
        (client.get(f"{RHEIN}/consents/nope", **rid), 403),
        (client.get(f"{RHEIN}/consents/nope/status", **rid), 403),
        (client.post(f"{RHEIN}/consents", "[]", content_type="application/json", **rid), 400),
    ]
    for response, status in cases:
        assert response.status_code == status, (response.wsgi_request.path, response.content)
        assert_conforms("rhein", response)
        assert response.json()["tppMessages"][0]["category"] == "ERROR"
    not_allowed = client.post(f"{RHEIN}/accounts", **good)
    assert not_allowed.status_code == 405 and not_allowed.json()["tppMessages"][0]["code"] == "SERVICE_INVALID"


def test_liberty_error_responses_conform(client):
    tokens = connect(client, "liberty")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    for response, status in [
        (client.get(f"{LIBERTY}/accounts", HTTP_AUTHORIZATION="Bearer nope"), 401),
        (client.get(f"{LIBERTY}/transactions/sync?cursor=%%%", **auth), 400),
        (client.get(f"{LIBERTY}/transactions/sync?count=abc", **auth), 400),
    ]:
        assert response.status_code == status
        assert_conforms("liberty", response)


# --- ground truth ----------------------------------------------------------------------------------------


def _export(bank: str, user: str) -> dict:
    out = StringIO()
    call_command("sandbox_export", bank, user, stdout=out)
    return json.loads(out.getvalue())


def _albion_signed(item: dict) -> str:
    amount = Decimal(item["Amount"]["Amount"])
    return f"{-amount if item['CreditDebitIndicator'] == 'Debit' else amount:.2f}"


def test_albion_serves_what_sandbox_export_holds(client):
    truth = _export("albion", "alice")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {connect(client, 'albion')['access_token']}"}
    served = client.get(f"{ALBION}/accounts", **auth).json()["Data"]["Account"]
    assert [a["AccountId"] for a in served] == [a["id"] for a in truth["accounts"]]
    for account in truth["accounts"]:
        balances = client.get(f"{ALBION}/accounts/{account['id']}/balances", **auth).json()["Data"]["Balance"]
        assert sorted(_albion_signed(b) for b in balances) == sorted(b["amount"] for b in account["balances"])
        url, rows = f"{ALBION}/accounts/{account['id']}/transactions", []
        while url:
            body = client.get(url, **auth).json()
            rows += body["Data"]["Transaction"]
            url = body["Links"].get("Next")
        assert [(r["TransactionId"], _albion_signed(r), r["Status"].lower()) for r in rows] == [
            (t["id"], t["amount"], t["status"]) for t in account["transactions"]
        ]


def test_rhein_serves_what_sandbox_export_holds(client):
    truth = _export("rhein", "alice")
    tokens = connect(client, "rhein")
    served = client.get(
        f"{RHEIN}/accounts?withBalance=true", **rhein_headers(tokens["access_token"], tokens["consent_id"], True)
    ).json()["accounts"]
    assert [a["resourceId"] for a in served] == [a["id"] for a in truth["accounts"]]
    for account, listed in zip(truth["accounts"], served, strict=True):
        assert listed.get("iban", "") == account["iban"]
        assert sorted(b["balanceAmount"]["amount"] for b in listed["balances"]) == sorted(
            b["amount"] for b in account["balances"]
        )
        url = f"{RHEIN}/accounts/{account['id']}/transactions?bookingStatus=both&dateFrom=2000-01-01"
        rows = []
        while url:
            body = client.get(url, **rhein_headers(tokens["access_token"], tokens["consent_id"], True)).json()
            report = body["transactions"]
            rows += [(t["transactionId"], t["transactionAmount"]["amount"], "booked") for t in report["booked"]]
            rows += [(t["transactionId"], t["transactionAmount"]["amount"], "pending") for t in report["pending"]]
            url = report["_links"].get("next", {}).get("href")
        assert sorted(rows) == sorted((t["id"], t["amount"], t["status"]) for t in account["transactions"])


def test_liberty_serves_what_sandbox_export_holds(client):
    truth = _export("liberty", "alice")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {connect(client, 'liberty')['access_token']}"}
    accounts = client.get(f"{LIBERTY}/accounts", **auth).json()["accounts"]
    assert [a["account_id"] for a in accounts] == [a["id"] for a in truth["accounts"]]
    cursor, served = "", []
    while True:
        body = client.get(f"{LIBERTY}/transactions/sync?cursor={cursor}&count=500", **auth).json()
        served += body["added"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    expected = sorted(
        (t["id"], t["amount"], t["status"], t["pending_transaction_id"] or None)
        for a in truth["accounts"]
        for t in a["transactions"]
    )
    got = sorted(
        (
            t["transaction_id"],
            f"{-Decimal(t['amount']) if t['direction'] == 'DEBIT' else Decimal(t['amount']):.2f}",
            "pending" if t["pending"] else "booked",
            t["pending_transaction_id"],
        )
        for t in served
    )
    assert got == expected
