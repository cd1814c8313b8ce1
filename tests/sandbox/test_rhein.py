"""Rhein (Berlin Group NextGenPSD2 1.3.11): consents, AIS, frequencyPerDay, expiry, termination. Every response is
validated against the official OpenAPI file."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from providers.sandbox import bankdata
from providers.sandbox.models import SandboxConsent
from providers.sandbox.testing import advance_clock

from .banking import (
    RHEIN,
    assert_conforms,
    connect,
    demo_clients,  # noqa: F401  (fixture)
    refresh,
    rhein_headers,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_clients")]
FROM = "dateFrom=2000-01-01"


def _get(client, path, tokens, psu_present=False, **extra):  # type: ignore[no-untyped-def]
    headers = rhein_headers(tokens["access_token"], tokens["consent_id"], psu_present)
    response = client.get(f"{RHEIN}{path}", **{**headers, **extra})
    assert_conforms("rhein", response)
    return response


def _account(client, tokens) -> str:  # type: ignore[no-untyped-def]
    return _get(client, "/accounts", tokens, psu_present=True).json()["accounts"][0]["resourceId"]


def test_consent_lifecycle_received_status_and_details(client):
    request_id = str(uuid.uuid4())
    body = {
        "access": {"allPsd2": "allAccounts"},
        "recurringIndicator": True,
        "validUntil": (bankdata.sandbox_now().date() + timedelta(days=30)).isoformat(),
        "frequencyPerDay": 4,
        "combinedServiceIndicator": False,
    }
    created = client.post(
        f"{RHEIN}/consents",
        body,
        content_type="application/json",
        HTTP_X_REQUEST_ID=request_id,
        HTTP_PSU_IP_ADDRESS="192.168.8.78",
    )
    assert_conforms("rhein", created)
    assert created.status_code == 201 and created["X-Request-ID"] == request_id
    consent_id = created.json()["consentId"]
    assert created.json()["consentStatus"] == "received"
    assert created.json()["_links"]["scaOAuth"]["href"].endswith(
        "/sandbox/rhein/.well-known/oauth-authorization-server"
    )
    status = client.get(f"{RHEIN}/consents/{consent_id}/status", HTTP_X_REQUEST_ID=str(uuid.uuid4()))
    assert_conforms("rhein", status)
    assert status.json() == {"consentStatus": "received"}
    details = client.get(f"{RHEIN}/consents/{consent_id}", HTTP_X_REQUEST_ID=str(uuid.uuid4()))
    assert_conforms("rhein", details)
    assert details.json()["frequencyPerDay"] == 4 and details.json()["access"] == {"allPsd2": "allAccounts"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {
            "access": {},
            "recurringIndicator": True,
            "validUntil": "2099-01-01",
            "frequencyPerDay": 4,
            "combinedServiceIndicator": False,
        },
        {
            "access": {"allPsd2": "allAccounts"},
            "recurringIndicator": True,
            "validUntil": "not-a-date",
            "frequencyPerDay": 4,
            "combinedServiceIndicator": False,
        },
        {
            "access": {"allPsd2": "allAccounts"},
            "recurringIndicator": True,
            "validUntil": "2099-01-01",
            "frequencyPerDay": 0,
            "combinedServiceIndicator": False,
        },
    ],
)
def test_invalid_consent_requests_get_format_errors(client, body):
    response = client.post(
        f"{RHEIN}/consents", body, content_type="application/json", HTTP_X_REQUEST_ID=str(uuid.uuid4())
    )
    assert response.status_code == 400
    assert_conforms("rhein", response)
    assert response.json()["tppMessages"][0]["category"] == "ERROR"


def test_x_request_id_is_required_and_echoed(client):
    missing = client.get(f"{RHEIN}/accounts")
    assert missing.status_code == 400 and missing.json()["tppMessages"][0]["code"] == "FORMAT_ERROR"
    uuid.UUID(missing["X-Request-ID"])  # a generated one
    tokens = connect(client, "rhein")
    response = _get(client, "/accounts", tokens, psu_present=True)
    assert response.status_code == 200 and response["X-Request-ID"] == response.wsgi_request.headers["X-Request-ID"]


def test_accounts_balances_and_transactions_match_the_ground_truth(client):
    tokens = connect(client, "rhein", username="bob")
    accounts = _get(client, "/accounts?withBalance=true", tokens, psu_present=True).json()["accounts"]
    assert [a["resourceId"] for a in accounts] == [a.id for a in bankdata.user_accounts("rhein", "bob")]
    account = bankdata.user_accounts("rhein", "bob")[0]
    balances = _get(client, f"/accounts/{account.id}/balances", tokens, psu_present=True).json()["balances"]
    assert {(b["balanceType"], b["balanceAmount"]["amount"]) for b in balances} == {
        (
            {"booked": "closingBooked", "available": "interimAvailable", "expected": "expected"}[b.type],
            f"{b.amount:.2f}",
        )
        for b in bankdata.account_balances("rhein", "bob", account.id)
    }
    url = f"/accounts/{account.id}/transactions?bookingStatus=both&{FROM}"
    booked, pending = [], []
    while url:
        body = _get(client, url.replace(f"http://testserver{RHEIN}", ""), tokens, psu_present=True).json()
        booked += body["transactions"]["booked"]
        pending += body["transactions"]["pending"]
        url = body["transactions"]["_links"].get("next", {}).get("href")
    truth = bankdata.account_transactions("rhein", "bob", account.id)
    assert [t["transactionId"] for t in booked] == [t.id for t in truth if t.status == "booked"]
    assert [t["transactionId"] for t in pending] == [t.id for t in truth if t.status == "pending"]
    assert [t["transactionAmount"]["amount"] for t in booked] == [
        f"{t.amount:.2f}" for t in truth if t.status == "booked"
    ]


def test_transactions_filter_by_booking_status_and_dates(client):
    tokens = connect(client, "rhein")
    account_id = _account(client, tokens)
    body = _get(
        client,
        f"/accounts/{account_id}/transactions?bookingStatus=booked&dateFrom=2025-02-01&dateTo=2025-02-28",
        tokens,
        psu_present=True,
    ).json()["transactions"]
    assert "pending" not in body and body["booked"]
    assert all("2025-02-01" <= t["bookingDate"] <= "2025-02-28" for t in body["booked"])


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "FORMAT_ERROR"),
        ("?bookingStatus=information&dateFrom=2024-01-01", "PARAMETER_NOT_SUPPORTED"),
        ("?bookingStatus=both", "FORMAT_ERROR"),
        ("?bookingStatus=both&dateFrom=2024-05-01&dateTo=2024-01-01", "PERIOD_INVALID"),
    ],
)
def test_bad_transaction_queries_get_400(client, query, code):
    tokens = connect(client, "rhein")
    account_id = _account(client, tokens)
    response = _get(client, f"/accounts/{account_id}/transactions{query}", tokens)
    assert response.status_code == 400 and response.json()["tppMessages"][0]["code"] == code


def test_unattended_access_is_limited_to_frequency_per_day(client):
    tokens = connect(client, "rhein", frequency=4)
    account_id = _account(client, tokens)  # PSU present: does not count
    path = f"/accounts/{account_id}/balances"
    assert [_get(client, path, tokens).status_code for _ in range(4)] == [200, 200, 200, 200]
    fifth = _get(client, path, tokens)
    assert fifth.status_code == 429 and fifth.json()["tppMessages"][0]["code"] == "ACCESS_EXCEEDED"
    # with the PSU present there is no limit, and other accounts have their own budget
    assert _get(client, path, tokens, psu_present=True).status_code == 200
    other = bankdata.user_accounts("rhein", "alice")[1].id
    assert _get(client, f"/accounts/{other}/balances", tokens).status_code == 200
    # a new sandbox day resets the budget (tokens are refreshed by then)
    advance_clock(days=1)

    tokens = {**refresh(client, "rhein", tokens["refresh_token"]).json(), "consent_id": tokens["consent_id"]}
    assert _get(client, path, tokens).status_code == 200


def test_following_next_pages_does_not_count_against_the_frequency(client):
    tokens = connect(client, "rhein", frequency=1)
    account_id = _account(client, tokens)
    first = _get(client, f"/accounts/{account_id}/transactions?bookingStatus=both&{FROM}&itemsPerPage=100", tokens)
    assert first.status_code == 200
    next_href = first.json()["transactions"]["_links"]["next"]["href"]
    second = _get(client, next_href.replace(f"http://testserver{RHEIN}", ""), tokens)
    assert second.status_code == 200
    again = _get(client, f"/accounts/{account_id}/transactions?bookingStatus=both&{FROM}", tokens)
    assert again.status_code == 429


def test_terminated_consent_is_refused(client):
    tokens = connect(client, "rhein")
    deleted = client.delete(f"{RHEIN}/consents/{tokens['consent_id']}", HTTP_X_REQUEST_ID=str(uuid.uuid4()))
    assert_conforms("rhein", deleted)
    assert deleted.status_code == 204
    assert SandboxConsent.objects.get(pk=tokens["consent_id"]).status == "terminatedByTpp"
    response = _get(client, "/accounts", tokens)
    assert response.status_code == 401 and response.json()["tppMessages"][0]["code"] == "CONSENT_INVALID"


def test_consent_expires_after_valid_until(client):
    valid_until = bankdata.sandbox_now().date() + timedelta(days=2)
    tokens = connect(client, "rhein", valid_until=valid_until.isoformat())
    assert _get(client, "/accounts", tokens).status_code == 200
    advance_clock(days=3)

    assert refresh(client, "rhein", tokens["refresh_token"]).json()["error"] == "invalid_grant"
    status = client.get(f"{RHEIN}/consents/{tokens['consent_id']}/status", HTTP_X_REQUEST_ID=str(uuid.uuid4()))
    assert_conforms("rhein", status)
    assert status.json()["consentStatus"] == "expired"


def test_consent_id_must_match_the_token(client):
    tokens = connect(client, "rhein")
    other = connect(client, "rhein")
    response = _get(client, "/accounts", {**tokens, "consent_id": other["consent_id"]})
    assert response.status_code == 401 and response.json()["tppMessages"][0]["code"] == "CONSENT_INVALID"
    unknown = _get(client, "/accounts", {**tokens, "consent_id": "nope"})
    assert unknown.status_code == 400 and unknown.json()["tppMessages"][0]["code"] == "CONSENT_UNKNOWN"


def test_expired_access_token_is_token_expired(client):
    tokens = connect(client, "rhein")
    advance_clock(minutes=11)
    response = _get(client, "/accounts", tokens)
    assert response.status_code == 401 and response.json()["tppMessages"][0]["code"] == "TOKEN_EXPIRED"


def test_account_list_only_consent_cannot_read_balances(client):
    tokens = connect(client, "rhein", access={"availableAccounts": "allAccounts"})
    accounts = _get(client, "/accounts", tokens).json()["accounts"]
    assert accounts and "balances" not in accounts[0]["_links"]
    response = _get(client, f"/accounts/{accounts[0]['resourceId']}/balances", tokens)
    assert response.status_code == 401 and response.json()["tppMessages"][0]["code"] == "CONSENT_INVALID"


def _freq_counter(consent_id: str, account_id: str) -> int:
    from providers.sandbox.models import SandboxCounter

    day = bankdata.sandbox_now().date().isoformat()
    return (
        SandboxCounter.objects.filter(key=f"freq:{consent_id}:{account_id}:{day}")
        .values_list("value", flat=True)
        .first()
        or 0
    )


def test_refused_calls_do_not_count_and_the_counter_never_passes_the_limit(client):
    tokens = connect(client, "rhein", frequency=2)
    account_id = _account(client, tokens)
    path = f"/accounts/{account_id}/balances"
    statuses = [_get(client, path, tokens).status_code for _ in range(5)]
    assert statuses == [200, 200, 429, 429, 429]
    assert _freq_counter(tokens["consent_id"], account_id) == 2
    bad = _get(client, f"/accounts/{account_id}/transactions?bookingStatus=both", tokens)  # no dateFrom: 400
    assert bad.status_code == 400 and _freq_counter(tokens["consent_id"], account_id) == 2


@pytest.mark.parametrize("kind", ["500", "503", "429", "truncated"])
def test_a_call_spoilt_by_an_injected_fault_does_not_count(client, monkeypatch, kind):
    from providers.sandbox import faults

    tokens = connect(client, "rhein", username="flaky", frequency=1)
    account_id = _account(client, tokens)
    path = f"/accounts/{account_id}/balances"
    monkeypatch.setattr(faults, "fault_for_request", lambda **kw: faults.Fault(kind))
    spoilt = client.get(f"{RHEIN}{path}", **rhein_headers(tokens["access_token"], tokens["consent_id"]))
    assert spoilt.status_code >= 400 or kind == "truncated"
    assert _freq_counter(tokens["consent_id"], account_id) == 0

    monkeypatch.setattr(faults, "fault_for_request", lambda **kw: faults.Fault("slow", delay=0.0))
    assert _get(client, path, tokens).status_code == 200  # slow but served: counted
    assert _freq_counter(tokens["consent_id"], account_id) == 1
    monkeypatch.setattr(faults, "fault_for_request", lambda **kw: None)
    assert _get(client, path, tokens).status_code == 429
