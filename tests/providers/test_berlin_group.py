"""Berlin Group NextGenPSD2 v1.3.11 adapter against recorded rhein payloads."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from providers.adapters.berlin_group import BerlinGroupAdapter
from providers.base import AccessTokenExpiredError, Credentials, RateLimitedError, ReauthRequiredError

from .conftest import BASE, mock_rhein, ok

CONFIG = {"base_url": f"{BASE}/rhein", "client_id": "aggregator-rhein", "client_secret": "rhein-sandbox-secret"}
CREDS = Credentials(access_token="at-rhein-1", refresh_token="rt-rhein-1", consent_id="rhc-1")


@pytest.fixture
def adapter() -> BerlinGroupAdapter:
    return BerlinGroupAdapter(CONFIG)


@pytest.fixture
def routes(bank_mock):  # type: ignore[no-untyped-def]
    return mock_rhein(bank_mock)


def test_start_authorization_posts_a_recurring_consent_and_redirects_with_its_id(adapter, routes):
    auth = adapter.start_authorization(redirect_uri="http://127.0.0.1:8000/connect/callback/")

    request = routes["consent"].calls.last.request
    body = json.loads(request.content)
    assert body["recurringIndicator"] is True and body["frequencyPerDay"] == 4
    assert body["access"]["transactions"] == [] and date.fromisoformat(body["validUntil"]) > datetime.now(tz=UTC).date()
    assert request.headers["X-Request-ID"] and request.headers["TPP-Redirect-URI"].endswith("/connect/callback/")
    query = parse_qs(urlsplit(auth.url).query)
    assert query["consent_id"] == ["rhc-5e0b7c4d-91aa-4c2e-8d0f-3b6a2f9e7c15"] and query["state"] == [auth.state]
    assert auth.consent_id == "rhc-5e0b7c4d-91aa-4c2e-8d0f-3b6a2f9e7c15"


def test_ais_calls_send_consent_id_bearer_and_request_id_but_no_psu_ip_when_unattended(adapter, routes):
    adapter.list_accounts(CREDS)
    headers = routes["accounts"].calls.last.request.headers
    assert headers["Consent-ID"] == "rhc-1" and headers["Authorization"] == "Bearer at-rhein-1"
    assert headers["X-Request-ID"] == headers["x-fapi-interaction-id"]
    assert "PSU-IP-Address" not in headers


def test_attended_calls_send_the_psu_ip_address(routes):
    BerlinGroupAdapter(CONFIG, psu_ip_address="203.0.113.7").list_accounts(CREDS)
    assert routes["accounts"].calls.last.request.headers["PSU-IP-Address"] == "203.0.113.7"


def test_accounts_map_cash_account_type_iban_and_owner(adapter, routes):
    giro, card = adapter.list_accounts(CREDS)
    assert (giro.provider_account_id, giro.type, giro.subtype) == ("rh-alice-giro-2c7e", "current", "CACC")
    assert (giro.iban, giro.currency, giro.holder_name) == ("DE89370400440532013000", "EUR", "Alice Example")
    assert giro.display_name == "Girokonto"
    assert card.type == "credit_card"
    assert (giro.masked_pan, card.masked_pan) == ("", "************5100")  # from the card's ``details``


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ({"cashAccountType": "CARD", "maskedPan": "123456xxxxxx1234"}, "123456xxxxxx1234"),
        ({"cashAccountType": "CARD", "details": "Card ************0623"}, "************0623"),
        ({"cashAccountType": "CARD", "details": "Visa Gold 4111XXXXXXXX1111, limit 5000"}, "4111XXXXXXXX1111"),
        ({"cashAccountType": "CARD", "details": "Card number on request"}, ""),
        ({"cashAccountType": "CACC", "details": "Card ************0623 linked"}, ""),
    ],
)
def test_the_masked_pan_comes_from_masked_pan_or_a_card_accounts_details(account, expected):
    raw = {"resourceId": "r1", "currency": "EUR", **account}
    assert BerlinGroupAdapter.normalize_account(raw).masked_pan == expected


@pytest.mark.parametrize(
    ("account", "number", "masked_pan"),
    [
        ({"cashAccountType": "CACC", "bban": "3704 0044 0532 0130 00"}, "370400440532013000", ""),
        (
            {"cashAccountType": "CACC", "iban": "DE89370400440532013000", "bban": "370400440532013000"},
            "370400440532013000",
            "",
        ),
        ({"cashAccountType": "CARD", "pan": "4111 1111 1111 1111"}, "", "************1111"),
    ],
)
def test_a_bban_is_the_account_number_and_a_clear_pan_is_masked(account, number, masked_pan):
    data = BerlinGroupAdapter.normalize_account({"resourceId": "r1", "currency": "EUR", **account})
    assert (data.account_number, data.masked_pan) == (number, masked_pan)


def test_balances_keep_their_sign_and_types(adapter, routes):
    giro = adapter.list_accounts(CREDS)[0]
    balances = {b.type: b for b in adapter.get_balances(CREDS, giro)}
    assert balances["booked"].amount == Decimal("-84.10")  # signed as given: overdrawn
    assert balances["available"].amount == Decimal("915.90") and balances["available"].credit_line_included
    assert balances["expected"].as_of == datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def test_transactions_follow_links_next_and_normalize_booked_and_pending(adapter, routes):
    giro = adapter.list_accounts(CREDS)[0]
    pages = list(adapter.iter_transactions(CREDS, giro, since=date(2026, 10, 1)))

    first = routes["transactions"].calls[0].request.url.params
    assert (first["bookingStatus"], first["dateFrom"]) == ("both", "2026-10-01") and "dateTo" not in first
    assert [p.has_more for p in pages] == [True, False]
    salary, rewe = pages[0].transactions
    rent, train = pages[1].transactions
    assert salary.amount == Decimal("3100.00") and salary.counterparty_name == "Acme GmbH"
    assert (salary.booking_date, salary.value_date, salary.booked_at) == (date(2026, 10, 31), date(2026, 11, 1), None)
    assert (salary.description, salary.category, salary.bank_transaction_code) == (
        "Gehalt Oktober",
        "income",
        "PMNT-RCDT-SALA",
    )
    assert rewe.amount == Decimal("-42.80") and rewe.merchant_name == "REWE" and rewe.counterparty_name == "REWE"
    assert rent.merchant_name == "" and rent.counterparty_name == "Hausverwaltung Schmidt"
    assert train.status == "pending" and train.booking_date == date(2026, 11, 26)  # no bookingDate: valueDate
    assert train.provider_transaction_id == "P-rh-0004"


def test_a_first_listing_without_since_asks_for_the_whole_history(adapter, routes):
    giro = adapter.list_accounts(CREDS)[0]
    list(adapter.iter_transactions(CREDS, giro))
    assert routes["transactions"].calls[0].request.url.params["dateFrom"] == "2000-01-01"


def test_daily_limit_is_rate_limited_until_the_next_day_without_retrying(adapter, routes, sleeps):
    routes["balances"].mock(return_value=ok("rhein", "error_access_exceeded", 429))
    giro = adapter.list_accounts(CREDS)[0]
    with pytest.raises(RateLimitedError) as excinfo:
        adapter.get_balances(CREDS, giro)
    assert excinfo.value.code == "access_exceeded"
    assert 0 < excinfo.value.retry_after <= 86400
    assert routes["balances"].call_count == 1 and sleeps == []


def test_consent_expired_requires_reauthentication(adapter, routes):
    routes["accounts"].mock(return_value=ok("rhein", "error_consent_expired", 401))
    with pytest.raises(ReauthRequiredError):
        adapter.list_accounts(CREDS)


def test_token_expired_asks_for_a_refresh(adapter, routes):
    routes["accounts"].mock(return_value=ok("rhein", "error_token_expired", 401))
    with pytest.raises(AccessTokenExpiredError):
        adapter.list_accounts(CREDS)


def test_refresh_rotates_tokens(adapter, routes):
    creds = adapter.refresh(CREDS)
    assert (creds.access_token, creds.refresh_token, creds.consent_id) == ("at-rhein-2", "rt-rhein-2", "rhc-1")
    routes["token"].mock(return_value=ok("rhein", "error_invalid_grant", 400))
    with pytest.raises(ReauthRequiredError):
        adapter.refresh(creds)


def test_relative_next_links_resolve_under_the_bank_root(adapter):
    client = adapter.client
    current = f"{BASE}/rhein/v1/accounts/a/transactions"
    assert client.resolve(current, "/v1/accounts/a/transactions?pageIndex=1") == (
        f"{BASE}/rhein/v1/accounts/a/transactions?pageIndex=1"
    )
    assert client.resolve(current, "/sandbox/rhein/v1/accounts/a/transactions?pageIndex=1") == (
        f"{BASE}/rhein/v1/accounts/a/transactions?pageIndex=1"
    )


def test_revoke_deletes_the_consent(adapter, bank_mock):
    route = bank_mock.delete(f"{BASE}/rhein/v1/consents/rhc-1").mock(return_value=httpx.Response(204))
    adapter.revoke(CREDS)
    assert route.calls.last.request.headers["Consent-ID"] == "rhc-1"
