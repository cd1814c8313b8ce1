"""Helpers for the sandbox payment (PIS) tests: albion's OBIE flow and rhein's Berlin Group flow, driven through
the Django test client."""

from __future__ import annotations

import uuid
from typing import Any

from django.test import Client

from providers.sandbox.bankdata import user_accounts

from .banking import ALBION_PIS, RHEIN, albion_client_token, authorize, exchange

ALICE_ALBION_NAME = "Alice Appleby"


def albion_account(username: str, index: int = 0):  # type: ignore[no-untyped-def]
    return user_accounts("albion", username)[index]


def initiation(**overrides: Any) -> dict:
    """A domestic payment to bob's current account (a sandbox account: the payee check applies)."""
    bob = albion_account("bob")
    body = {
        "InstructionIdentification": "INSTR-0001",
        "EndToEndIdentification": "E2E-" + uuid.uuid4().hex[:20],
        "LocalInstrument": "UK.OBIE.FPS",
        "InstructedAmount": {"Amount": "12.50", "Currency": "GBP"},
        "CreditorAccount": {
            "SchemeName": "UK.OBIE.SortCodeAccountNumber",
            "Identification": bob.sort_code + bob.account_number,
            "Name": bob.holder_name,
        },
        "RemittanceInformation": {"Reference": "INV-42", "Unstructured": "Invoice 42"},
    }
    body.update(overrides)
    return body


def albion_consent_post(client: Client, body: dict, key: str = "", kind: str = "domestic", token: str = ""):  # type: ignore[no-untyped-def]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token or albion_client_token(client, 'payments')}"}
    if key is not None:
        headers["HTTP_X_IDEMPOTENCY_KEY"] = key or uuid.uuid4().hex
    return client.post(f"{ALBION_PIS}/{kind}-payment-consents", body, content_type="application/json", **headers)


def albion_authorised_payment_consent(
    client: Client, init: dict | None = None, username: str = "alice", action: str = "approve", kind: str = "domestic"
) -> dict:
    """Create a payment consent and have ``username`` approve it from their first account: the consent body,
    the PSU token response and the authorize redirect's parameters."""
    init = init or initiation()
    data = {"Initiation": init}
    if kind == "domestic-scheduled":
        data["Permission"] = "Create"
    body = {"Data": data, "Risk": {"PaymentContextCode": "PartyToParty"}}
    response = albion_consent_post(client, body, kind=kind)
    assert response.status_code == 201, response.content
    consent = response.json()
    consent_id = consent["Data"]["ConsentId"]
    account = albion_account(username)
    result = authorize(
        client,
        "albion",
        consent_id=consent_id,
        username=username,
        scope="payments",
        accounts=[account.id],
        action=action,
    )
    tokens = exchange(client, "albion", result["code"]).json() if "code" in result else {}
    return {"consent": consent, "request": body, "tokens": tokens, "redirect": result, "account": account}


def albion_payment_post(client: Client, flow: dict, key: str = "", body: dict | None = None, kind: str = "domestic"):  # type: ignore[no-untyped-def]
    body = body or {
        "Data": {
            "ConsentId": flow["consent"]["Data"]["ConsentId"],
            "Initiation": flow["request"]["Data"]["Initiation"],
        },
        "Risk": flow["request"]["Risk"],
    }
    return client.post(
        f"{ALBION_PIS}/{kind}-payments",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {flow['tokens']['access_token']}",
        HTTP_X_IDEMPOTENCY_KEY=key or uuid.uuid4().hex,
    )


def rhein_payment_body(username: str = "alice", **overrides: Any) -> dict:
    debtor = user_accounts("rhein", username)[0]
    bob = user_accounts("rhein", "bob")[0]
    body = {
        "endToEndIdentification": "E2E-" + uuid.uuid4().hex[:20],
        "debtorAccount": {"iban": debtor.iban, "currency": debtor.currency},
        "instructedAmount": {"currency": "EUR", "amount": "12.50"},
        "creditorAccount": {"iban": bob.iban},
        "creditorName": bob.holder_name,
        "remittanceInformationUnstructured": "Invoice 42",
    }
    body.update(overrides)
    return body


def rhein_payment_post(client: Client, body: dict, product: str = "sepa-credit-transfers", request_id: str = ""):  # type: ignore[no-untyped-def]
    return client.post(
        f"{RHEIN}/payments/{product}",
        body,
        content_type="application/json",
        HTTP_X_REQUEST_ID=request_id or str(uuid.uuid4()),
        HTTP_PSU_IP_ADDRESS="192.168.8.78",
        HTTP_TPP_REDIRECT_URI="http://127.0.0.1:8000/payments/callback/",
    )
