"""Albion (OBIE v3.1.11): consents, permissions, date range, pagination, revocation. Every response is validated
against the official OpenAPI file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from providers.sandbox import bankdata
from providers.sandbox.banks.albion import views as albion_views
from providers.sandbox.models import SandboxConsent
from providers.sandbox.testing import advance_clock

from .banking import (
    ALBION,
    albion_client_token,
    albion_consent,
    assert_conforms,
    authorize,
    connect,
    demo_clients,  # noqa: F401  (fixture)
    exchange,
    refresh,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_clients")]


def _get(client, path, token, **extra):  # type: ignore[no-untyped-def]
    response = client.get(f"{ALBION}{path}", HTTP_AUTHORIZATION=f"Bearer {token}", **extra)
    assert_conforms("albion", response)
    return response


def _first_account(client, token):  # type: ignore[no-untyped-def]
    return _get(client, "/accounts", token).json()["Data"]["Account"][0]["AccountId"]


def test_consent_is_created_awaiting_authorisation_and_readable(client):
    cc = albion_client_token(client)
    body = {
        "Data": {
            "Permissions": ["ReadAccountsBasic", "ReadBalances"],
            "ExpirationDateTime": "2099-01-01T00:00:00+00:00",
        },
        "Risk": {},
    }
    created = client.post(
        f"{ALBION}/account-access-consents", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {cc}"
    )
    assert_conforms("albion", created)
    assert created.status_code == 201
    data = created.json()["Data"]
    assert data["Status"] == "AwaitingAuthorisation" and data["Permissions"] == ["ReadAccountsBasic", "ReadBalances"]
    read = client.get(f"{ALBION}/account-access-consents/{data['ConsentId']}", HTTP_AUTHORIZATION=f"Bearer {cc}")
    assert_conforms("albion", read)
    assert read.json()["Data"]["ConsentId"] == data["ConsentId"]


@pytest.mark.parametrize(
    "permissions",
    [[], ["ReadEverything"], ["ReadTransactionsDetail"], ["ReadTransactionsCredits"]],
)
def test_invalid_permissions_are_rejected_with_obie_errors(client, permissions):
    cc = albion_client_token(client)
    response = client.post(
        f"{ALBION}/account-access-consents",
        {"Data": {"Permissions": permissions}, "Risk": {}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {cc}",
    )
    assert response.status_code == 400
    assert_conforms("albion", response)
    assert response.json()["Errors"][0]["ErrorCode"].startswith("UK.OBIE.Field.")


def test_consent_creation_needs_a_client_credentials_token(client):
    response = client.post(
        f"{ALBION}/account-access-consents",
        {"Data": {"Permissions": ["ReadAccountsBasic"]}, "Risk": {}},
        content_type="application/json",
    )
    assert response.status_code == 401
    assert_conforms("albion", response)


def test_interaction_id_is_echoed_or_generated(client):
    tokens = connect(client, "albion")
    echoed = _get(client, "/accounts", tokens["access_token"], HTTP_X_FAPI_INTERACTION_ID="abc-123")
    assert echoed["x-fapi-interaction-id"] == "abc-123"
    generated = _get(client, "/accounts", tokens["access_token"])
    assert len(generated["x-fapi-interaction-id"]) == 36
    unauthenticated = client.get(f"{ALBION}/accounts")
    assert unauthenticated.status_code == 401 and unauthenticated["x-fapi-interaction-id"]


def test_accounts_detail_includes_identifiers_and_basic_does_not(client):
    detail = connect(client, "albion")
    basic = connect(client, "albion", permissions=["ReadAccountsBasic"])
    with_ids = _get(client, "/accounts", detail["access_token"]).json()["Data"]["Account"][0]
    without = _get(client, "/accounts", basic["access_token"]).json()["Data"]["Account"][0]
    assert with_ids["Account"][0]["SchemeName"] == "UK.OBIE.SortCodeAccountNumber"
    assert "Account" not in without


def test_balances_need_read_balances(client):
    tokens = connect(client, "albion", permissions=["ReadAccountsBasic"])
    account_id = _first_account(client, tokens["access_token"])
    response = _get(client, f"/accounts/{account_id}/balances", tokens["access_token"])
    assert response.status_code == 403
    assert response.json()["Errors"][0]["ErrorCode"] == "UK.OBIE.Resource.ConsentMismatch"


def test_balances_match_the_ground_truth(client):
    tokens = connect(client, "albion", username="bob")
    for account in bankdata.user_accounts("albion", "bob"):
        body = _get(client, f"/accounts/{account.id}/balances", tokens["access_token"]).json()
        served = {(b["Type"], b["Amount"]["Amount"], b["CreditDebitIndicator"]) for b in body["Data"]["Balance"]}
        truth = {
            (
                albion_views.BALANCE_TYPES[b.type],
                f"{abs(b.amount):.2f}",
                "Credit" if b.amount >= 0 else "Debit",
            )
            for b in bankdata.account_balances("albion", "bob", account.id)
        }
        assert served == truth


def test_transactions_need_transaction_permissions(client):
    tokens = connect(client, "albion", permissions=["ReadAccountsDetail", "ReadBalances"])
    account_id = _first_account(client, tokens["access_token"])
    assert _get(client, f"/accounts/{account_id}/transactions", tokens["access_token"]).status_code == 403


def test_credits_only_consent_hides_debits(client):
    tokens = connect(
        client, "albion", permissions=["ReadAccountsBasic", "ReadTransactionsBasic", "ReadTransactionsCredits"]
    )
    account_id = _first_account(client, tokens["access_token"])
    rows = _get(client, f"/accounts/{account_id}/transactions", tokens["access_token"]).json()["Data"]["Transaction"]
    assert rows and {r["CreditDebitIndicator"] for r in rows} == {"Credit"}
    assert all("TransactionInformation" not in r for r in rows)  # Basic: no free text


def test_transactions_honour_the_consent_date_range_and_query_filters(client):
    tokens = connect(
        client,
        "albion",
        TransactionFromDateTime="2025-01-01T00:00:00+00:00",
        TransactionToDateTime="2025-03-31T23:59:59+00:00",
    )
    account_id = _first_account(client, tokens["access_token"])
    path = f"/accounts/{account_id}/transactions"
    rows = _get(client, path, tokens["access_token"]).json()["Data"]["Transaction"]
    times = [datetime.fromisoformat(r["BookingDateTime"]) for r in rows]
    assert rows and min(times) >= datetime(2025, 1, 1, tzinfo=UTC) and max(times) <= datetime(2025, 4, 1, tzinfo=UTC)
    # a wider query cannot escape the consent; a narrower one narrows
    wide = _get(client, f"{path}?fromBookingDateTime=2020-01-01T00:00:00", tokens["access_token"])
    assert len(wide.json()["Data"]["Transaction"]) == len(rows)
    narrow = _get(
        client,
        f"{path}?fromBookingDateTime=2025-02-01T00:00:00&toBookingDateTime=2025-02-28T23:59:59",
        tokens["access_token"],
    ).json()["Data"]["Transaction"]
    assert 0 < len(narrow) < len(rows)
    assert all(r["BookingDateTime"].startswith("2025-02") for r in narrow)


def test_transactions_are_paginated_with_links_next_and_total_pages(client, monkeypatch):
    monkeypatch.setattr(albion_views, "PAGE_SIZE", 40)
    tokens = connect(client, "albion")
    account_id = _first_account(client, tokens["access_token"])
    truth = bankdata.account_transactions("albion", "alice", account_id)
    url = f"{ALBION}/accounts/{account_id}/transactions"
    seen, pages = [], 0
    while url:
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
        assert_conforms("albion", response)
        body = response.json()
        seen += [r["TransactionId"] for r in body["Data"]["Transaction"]]
        pages += 1
        url = body["Links"].get("Next")
    assert pages == body["Meta"]["TotalPages"] == -(-len(truth) // 40) > 1
    assert seen == [t.id for t in truth]


def test_account_outside_the_consent_is_forbidden(client):
    accounts = [a.id for a in bankdata.user_accounts("albion", "bob")]
    consent_id = albion_consent(client)
    code = authorize(client, "albion", consent_id=consent_id, username="bob", accounts=accounts[:1])["code"]
    token = exchange(client, "albion", code).json()["access_token"]
    response = _get(client, f"/accounts/{accounts[1]}", token)
    assert response.status_code == 403


def test_revoked_consent_gets_403(client):
    tokens = connect(client, "albion")
    cc = albion_client_token(client)
    deleted = client.delete(
        f"{ALBION}/account-access-consents/{tokens['consent_id']}", HTTP_AUTHORIZATION=f"Bearer {cc}"
    )
    assert deleted.status_code == 204
    assert_conforms("albion", deleted)
    assert SandboxConsent.objects.get(pk=tokens["consent_id"]).status == "Revoked"
    response = _get(client, "/accounts", tokens["access_token"])
    assert response.status_code == 403
    assert response.json()["Errors"][0]["ErrorCode"] == "UK.OBIE.Resource.InvalidConsentStatus"


def test_expired_consent_gets_403(client):
    expires = bankdata.sandbox_now().replace(microsecond=0) + timedelta(minutes=5)
    tokens = connect(client, "albion", ExpirationDateTime=expires.isoformat())
    assert _get(client, "/accounts", tokens["access_token"]).status_code == 200
    advance_clock(minutes=6)
    assert refresh(client, "albion", tokens["refresh_token"]).status_code == 400
    # the access token is still within its 10 minutes, the consent is not
    response = _get(client, "/accounts", tokens["access_token"])
    assert response.status_code == 403


def _all_transactions(client, account_id: str, token: str) -> list[dict]:  # type: ignore[no-untyped-def]
    url, rows = f"{ALBION}/accounts/{account_id}/transactions", []
    while url:
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert_conforms("albion", response)
        rows += response.json()["Data"]["Transaction"]
        url = response.json()["Links"].get("Next")
    return rows


def _find_pending(bank: str) -> tuple[str, str, list[str]]:
    """A (user, account, pending ids) at ``bank``, moving the sandbox clock a day at a time until one shows up."""
    for _ in range(15):
        for username in ("alice", "bob"):
            for account in bankdata.user_accounts(bank, username):
                pending = [
                    t.id for t in bankdata.account_transactions(bank, username, account.id) if t.status == "pending"
                ]
                if pending:
                    return username, account.id, pending
        advance_clock(days=1)
    pytest.fail(f"no pending transaction at {bank} within 15 sandbox days")


def test_pending_becomes_booked_with_a_new_id_pointing_back(client):
    username, account_id, pending = _find_pending("albion")
    token = connect(client, "albion", username=username)["access_token"]
    before = _all_transactions(client, account_id, token)
    assert set(pending) <= {r["TransactionId"] for r in before if r["Status"] == "Pending"}
    advance_clock(days=10)
    fresh = connect(client, "albion", username=username)["access_token"]
    after = _all_transactions(client, account_id, fresh)
    replaced = {r["SupplementaryData"].get("PendingTransactionId") for r in after if "SupplementaryData" in r}
    truth = {t.pending_transaction_id for t in bankdata.account_transactions("albion", username, account_id)}
    # posted ones point back to their pending id (some pending items are cancelled instead, as at real banks)
    assert replaced - {None} == truth - {""}
    assert not set(pending) & {r["TransactionId"] for r in after}
