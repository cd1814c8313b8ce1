"""US cursor-delta adapter against recorded liberty payloads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from providers.adapters.cursor_delta import CursorDeltaAdapter
from providers.base import AccessTokenExpiredError, Credentials, ReauthRequiredError, TransientProviderError

from .conftest import BASE, mock_liberty, ok, recorded

CONFIG = {"base_url": f"{BASE}/liberty", "client_id": "aggregator-liberty", "client_secret": "liberty-sandbox-secret"}
CREDS = Credentials(access_token="at-liberty-1", refresh_token="rt-liberty-1")


@pytest.fixture
def adapter() -> CursorDeltaAdapter:
    return CursorDeltaAdapter(CONFIG)


@pytest.fixture
def routes(bank_mock):  # type: ignore[no-untyped-def]
    return mock_liberty(bank_mock)


def test_start_authorization_is_plain_oauth_with_pkce(adapter, routes):
    auth = adapter.start_authorization(redirect_uri="http://127.0.0.1:8000/connect/callback/")
    query = parse_qs(urlsplit(auth.url).query)
    assert "consent_id" not in query and query["code_challenge_method"] == ["S256"]
    assert auth.code_verifier and query["client_id"] == ["aggregator-liberty"]


def test_accounts_and_balances_follow_us_conventions(adapter, routes):
    checking, card = adapter.list_accounts(CREDS)
    assert (checking.type, checking.subtype, checking.currency) == ("current", "checking", "USD")
    assert (card.type, card.masked_pan, card.holder_name) == ("credit_card", "************1005", "Alice Example")

    card_balances = {b.type: b for b in adapter.get_balances(CREDS, card)}
    assert card_balances["booked"].amount == Decimal("-431.18")  # owed, reported positive by the bank
    assert card_balances["available"].amount == Decimal("4568.82")
    assert card_balances["booked"].credit_limit == Decimal("5000.00")
    checking_balances = {b.type: b for b in adapter.get_balances(CREDS, checking)}
    assert checking_balances["booked"].amount == Decimal("2210.35")
    assert checking_balances["booked"].as_of == datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def test_deposit_accounts_get_their_full_number_and_cards_their_masked_pan(adapter, routes):
    checking, card = adapter.list_accounts(CREDS)
    assert (checking.account_number, checking.account_number_mask, checking.masked_pan) == ("4417006789", "6789", "")
    assert (card.account_number, card.account_number_mask, card.masked_pan) == ("", "", "************1005")


@pytest.mark.parametrize("status", [403, 404])
def test_a_bank_that_refuses_the_numbers_leaves_deposit_accounts_their_mask(adapter, routes, status):
    routes["numbers"].mock(return_value=httpx.Response(status, json={"error": {"code": "X", "message": "no"}}))
    checking, card = adapter.list_accounts(CREDS)
    assert (checking.account_number, checking.account_number_mask) == ("", "6789")
    assert card.masked_pan == "************1005"


def test_a_failing_numbers_call_fails_the_listing_instead_of_dropping_numbers(adapter, routes):
    routes["numbers"].mock(
        return_value=httpx.Response(503, json={"error": {"code": "SERVICE_UNAVAILABLE", "message": "x"}})
    )
    with pytest.raises(TransientProviderError):
        adapter.list_accounts(CREDS)


def test_sync_follows_has_more_and_returns_added_modified_removed(adapter, routes):
    account = adapter.list_accounts(CREDS)[0]
    pages = list(adapter.iter_transactions(CREDS, account, cursor=""))

    assert [p.has_more for p in pages] == [True, False]
    assert pages[0].next_cursor == recorded("liberty", "sync_page1")["next_cursor"]
    assert pages[1].next_cursor == recorded("liberty", "sync_page2")["next_cursor"]
    assert routes["sync"].calls[0].request.url.params["count"] == "500"
    assert "cursor" not in routes["sync"].calls[0].request.url.params
    payroll, groceries = pages[0].transactions
    (uber,) = pages[1].transactions
    (payroll_edit,) = pages[1].modified
    assert pages[1].removed_ids == ("P-lib-0000",)

    assert payroll.amount == Decimal("3200.00") and payroll.status == "booked"  # CREDIT → in
    assert payroll.booked_at == datetime(2026, 10, 31, 14, tzinfo=UTC) and payroll.booking_date == date(2026, 10, 31)
    assert payroll.value_date is None and payroll.counterparty_name == "Acme Corp" and payroll.merchant_name == ""
    assert groceries.amount == Decimal("-54.21") and groceries.status == "pending"  # DEBIT → out
    assert groceries.booked_at == datetime(2026, 11, 24, 23, 30, 12, tzinfo=UTC)
    assert (groceries.category, groceries.bank_transaction_code) == ("groceries", "PMNT-CCRD-POSD")
    assert uber.provider_account_id == "lib-alice-cc-a91f" and uber.pending_transaction_id == "P-lib-0000"
    assert payroll_edit.description == "PAYROLL ACME CORP OCT"


def test_sync_resumes_from_a_stored_cursor(adapter, routes):
    account = adapter.list_accounts(CREDS)[0]
    cursor = recorded("liberty", "sync_page1")["next_cursor"]
    pages = list(adapter.iter_transactions(CREDS, account, cursor=cursor))
    assert len(pages) == 1 and routes["sync"].call_count == 0


def test_a_signed_amount_or_missing_direction_is_malformed(adapter):
    raw = recorded("liberty", "sync_page1")["added"][0]
    with pytest.raises(TransientProviderError):
        adapter.normalize_transaction(dict(raw, amount="-1.00"))
    with pytest.raises(TransientProviderError):
        adapter.normalize_transaction(dict(raw, direction=None))


def test_has_more_without_a_new_cursor_is_an_error_not_a_loop(adapter, routes):
    body = recorded("liberty", "sync_page1")
    body["next_cursor"] = ""
    routes["sync"].mock(return_value=httpx.Response(200, json=body))
    account = adapter.list_accounts(CREDS)[0]
    with pytest.raises(TransientProviderError):
        list(adapter.iter_transactions(CREDS, account))


def test_revoked_authorization_requires_reauth_and_a_dead_token_asks_for_refresh(adapter, routes):
    routes["accounts"].mock(return_value=ok("liberty", "error_consent_revoked", 403))
    with pytest.raises(ReauthRequiredError):
        adapter.list_accounts(CREDS)
    routes["accounts"].mock(
        return_value=httpx.Response(401, json={"error": {"code": "INVALID_ACCESS_TOKEN", "message": "expired"}})
    )
    with pytest.raises(AccessTokenExpiredError):
        adapter.list_accounts(CREDS)


def test_refresh_rotates_tokens(adapter, routes):
    creds = adapter.refresh(CREDS)
    assert (creds.access_token, creds.refresh_token) == ("at-liberty-2", "rt-liberty-2")


def test_recorded_transactions_have_exactly_the_fields_of_the_liberty_spec():
    """The recorded pages are what the sandbox serves: every required field, nothing the spec does not define
    (a drifted fixture once hid that the adapter read ``counterparty_name`` where the bank sends ``counterparty``)."""
    from pathlib import Path

    import yaml
    from django.conf import settings

    spec = yaml.safe_load((Path(settings.BASE_DIR) / "providers/sandbox/openapi/liberty.yaml").read_text())
    schema = spec["components"]["schemas"]["Transaction"]
    allowed, required = set(schema["properties"]), set(schema["required"])
    for name in ("sync_page1", "sync_page2"):
        body = recorded("liberty", name)
        for raw in (*body["added"], *body["modified"]):
            assert required <= set(raw) <= allowed, (name, sorted(set(raw) - allowed), sorted(required - set(raw)))


def test_the_counterparty_field_becomes_the_counterparty_name(adapter):
    raw = recorded("liberty", "sync_page1")["added"][0]
    assert adapter.normalize_transaction(dict(raw, counterparty="Acme Corp")).counterparty_name == "Acme Corp"
    assert adapter.normalize_transaction(dict(raw, counterparty=None)).counterparty_name == ""


def test_revoke_removes_the_item_with_the_users_token(adapter, bank_mock):
    route = bank_mock.post(f"{BASE}/liberty/item/remove").mock(return_value=httpx.Response(200, json={"removed": True}))
    assert adapter.supports_revoke
    adapter.revoke(CREDS)
    assert route.calls.last.request.headers["Authorization"] == "Bearer at-liberty-1"


def test_revoke_with_an_expired_access_token_asks_for_a_refresh(adapter, bank_mock):
    bank_mock.post(f"{BASE}/liberty/item/remove").mock(
        return_value=httpx.Response(401, json={"error": {"code": "INVALID_ACCESS_TOKEN", "message": "expired"}})
    )
    with pytest.raises(AccessTokenExpiredError):
        adapter.revoke(CREDS)


@pytest.mark.parametrize(("mcc", "expected"), [("5812", "5812"), ("58120", ""), (None, ""), (5812, "5812")])
def test_the_merchant_category_code_is_carried_when_it_is_four_digits(adapter, mcc, expected):
    raw = dict(recorded("liberty", "sync_page1")["added"][0], merchant_category_code=mcc)
    assert adapter.normalize_transaction(raw).merchant_category_code == expected
