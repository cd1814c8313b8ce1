"""OBIE v3.1.11 adapter against recorded albion payloads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from providers.adapters.obie import OBIEAdapter
from providers.base import (
    AccessTokenExpiredError,
    AuthorizationRequest,
    Credentials,
    ReauthRequiredError,
)

from .conftest import BASE, mock_albion, ok, recorded

CONFIG = {"base_url": f"{BASE}/albion", "client_id": "aggregator-albion", "client_secret": "albion-sandbox-secret"}
CREDS = Credentials(access_token="at-albion-1", refresh_token="rt-albion-1", consent_id="aac-1")


@pytest.fixture
def adapter() -> OBIEAdapter:
    return OBIEAdapter(CONFIG)


@pytest.fixture
def routes(bank_mock):  # type: ignore[no-untyped-def]
    return mock_albion(bank_mock)


def test_start_authorization_creates_a_consent_with_a_client_token_and_points_the_user_at_it(adapter, routes):
    auth = adapter.start_authorization(redirect_uri="http://127.0.0.1:8000/connect/callback/")

    consent_request = routes["consent"].calls.last.request
    assert consent_request.headers["Authorization"] == "Bearer cc-7Hq2mXbq0s1"
    body = consent_request.read()
    assert b"ReadTransactionsDetail" in body and b"ExpirationDateTime" in body
    query = parse_qs(urlsplit(auth.url).query)
    assert auth.url.startswith(f"{BASE}/albion/oauth/authorize?")
    assert query["consent_id"] == ["aac-3f1c9b2e-7d4a-4f7e-9a51-0c2d8e6b1f40"]
    assert query["state"] == [auth.state]
    assert query["code_challenge_method"] == ["S256"] and auth.code_verifier
    assert query["redirect_uri"] == ["http://127.0.0.1:8000/connect/callback/"]
    assert auth.consent_id == "aac-3f1c9b2e-7d4a-4f7e-9a51-0c2d8e6b1f40"


def test_exchange_code_returns_credentials_bound_to_the_consent(adapter, routes):
    auth = AuthorizationRequest(
        url="",
        state="s",
        code_verifier="v" * 43,
        consent_id="aac-1",
        extra={"consent_expires_at": "2027-02-23T10:00:00+00:00"},
    )
    creds = adapter.exchange_code(code="the-code", redirect_uri="http://cb/", auth=auth)

    form = parse_qs(routes["token"].calls.last.request.content.decode())
    assert form["grant_type"] == ["authorization_code"] and form["code_verifier"] == ["v" * 43]
    assert routes["token"].calls.last.request.headers["Authorization"].startswith("Basic ")
    assert creds.access_token == "at-albion-1" and creds.refresh_token == "rt-albion-1"
    assert creds.consent_id == "aac-1"
    assert creds.consent_expires_at == datetime(2027, 2, 23, 10, tzinfo=UTC)
    assert creds.expires_at is not None and creds.expires_at.tzinfo is not None


def test_refresh_rotates_the_refresh_token_and_keeps_the_consent(adapter, routes):
    creds = adapter.refresh(CREDS)
    assert (creds.access_token, creds.refresh_token, creds.consent_id) == ("at-albion-2", "rt-albion-2", "aac-1")


def test_refused_refresh_token_requires_reauthentication(adapter, routes):
    routes["token"].mock(return_value=ok("albion", "error_invalid_grant", 400))
    with pytest.raises(ReauthRequiredError):
        adapter.refresh(CREDS)


def test_accounts_map_subtype_identifiers_and_names(adapter, routes):
    current, card = adapter.list_accounts(CREDS)

    assert current.provider_account_id == "alb-alice-cur-8f3a"
    assert (current.type, current.subtype, current.currency) == ("current", "CurrentAccount", "GBP")
    assert (current.sort_code, current.account_number) == ("404788", "12345678")
    assert current.iban == "GB33ALBN40478812345678"
    assert current.display_name == "Everyday Current" and current.holder_name == "Alice Example"
    assert (card.type, card.masked_pan, card.sort_code) == ("credit_card", "************4242", "")
    assert routes["accounts"].calls.last.request.headers["Authorization"] == "Bearer at-albion-1"


@pytest.mark.parametrize(
    ("identifications", "expected"),
    [
        ([{"SchemeName": "SortCodeAccountNumber", "Identification": "40478812345678"}], ("404788", "12345678", "", "")),
        ([{"SchemeName": "UK.OBIE.BBAN", "Identification": "ALBN40478812345678"}], ("404788", "12345678", "", "")),
        ([{"SchemeName": "IBAN", "Identification": "GB33ALBN40478812345678"}], ("", "", "GB33ALBN40478812345678", "")),
        ([{"SchemeName": "PAN", "Identification": "5555444433331111"}], ("", "", "", "************1111")),
        (
            [
                {"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "40-47-88 12345678"},
                {"SchemeName": "UK.OBIE.BBAN", "Identification": "ALBN99999987654321"},
            ],
            ("404788", "12345678", "", ""),
        ),
    ],
)
def test_every_obie_identification_scheme_gives_its_identifier(identifications, expected):
    raw = {"AccountId": "a1", "Currency": "GBP", "AccountSubType": "CurrentAccount", "Account": identifications}
    data = OBIEAdapter.normalize_account(raw)
    assert (data.sort_code, data.account_number, data.iban, data.masked_pan) == expected


def test_balances_are_signed_by_credit_debit_indicator_with_credit_lines(adapter, routes):
    accounts = adapter.list_accounts(CREDS)
    current = {b.type: b for b in adapter.get_balances(CREDS, accounts[0])}
    card = {b.type: b for b in adapter.get_balances(CREDS, accounts[1])}

    assert current["booked"].amount == Decimal("1523.07")
    assert current["available"].amount == Decimal("1498.57")
    assert current["expected"].as_of == datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    assert card["booked"].amount == Decimal("-312.40")  # Debit: owed on the card
    assert card["booked"].credit_limit == Decimal("3000.00") and not card["booked"].credit_line_included
    assert card["available"].credit_line_included


def test_closing_booked_balance_is_preferred_over_interim(adapter, routes):
    body = recorded("albion", "balances_current")
    closing = dict(body["Data"]["Balance"][0], Type="ClosingBooked", Amount={"Amount": "1400.00", "Currency": "GBP"})
    body["Data"]["Balance"].append(closing)
    routes["balances_current"].mock(return_value=httpx.Response(200, json=body))
    account = adapter.list_accounts(CREDS)[0]

    booked = [b for b in adapter.get_balances(CREDS, account) if b.type == "booked"]
    assert [b.amount for b in booked] == [Decimal("1400.00")]


def test_transactions_follow_links_next_and_normalize_every_field(adapter, routes):
    account = adapter.list_accounts(CREDS)[0]
    pages = list(adapter.iter_transactions(CREDS, account, since=date(2026, 10, 1), until=date(2026, 11, 30)))

    assert [p.has_more for p in pages] == [True, False]
    salary, tesco = pages[0].transactions
    (netflix,) = pages[1].transactions
    first_query = routes["transactions"].calls[0].request.url.params
    assert first_query["fromBookingDateTime"] == "2026-10-01T00:00:00"
    assert first_query["toBookingDateTime"] == "2026-11-30T23:59:59"

    assert salary.amount == Decimal("2450.00") and salary.status == "booked"
    assert salary.booked_at == datetime(2026, 10, 31, 8, 15, 2, tzinfo=UTC)
    assert salary.booking_date == date(2026, 10, 31) and salary.value_date == date(2026, 11, 1)
    assert (salary.description, salary.category, salary.bank_transaction_code) == (
        "SALARY ACME WIDGETS LTD",
        "income",
        "PMNT-RCDT-SALA",  # the full ISO code from ProprietaryBankTransactionCode (BankTransactionCode has no domain)
    )
    assert tesco.amount == Decimal("-23.45")  # Debit → money out
    assert (tesco.merchant_name, tesco.pending_transaction_id) == ("Tesco", "P-alb-0002")
    assert tesco.currency == "GBP" and tesco.provider_account_id == "alb-alice-cur-8f3a"
    assert netflix.status == "pending" and netflix.amount == Decimal("-9.99")
    assert netflix.raw["TransactionId"] == "P-alb-0003"


def test_rejected_entries_are_dropped_and_unknown_status_is_an_error(adapter, routes):
    account = adapter.list_accounts(CREDS)[0]
    raw = recorded("albion", "transactions_page2")["Data"]["Transaction"][0]
    assert adapter.normalize_transaction(dict(raw, Status="Rejected"), account) is None
    with pytest.raises(Exception, match="Status"):
        adapter.normalize_transaction(dict(raw, Status="Weird"), account)


@pytest.mark.parametrize(
    ("iso", "proprietary", "expected"),
    [
        ({"Code": "ICDT", "SubCode": "STDO"}, {"Code": "PMNT-ICDT-STDO", "Issuer": "Albion"}, "PMNT-ICDT-STDO"),
        ({"Code": "ICDT", "SubCode": "STDO"}, {"Code": "SO", "Issuer": "SomeBank"}, "ICDT-STDO"),
        ({"Code": "ICDT", "SubCode": "STDO"}, {"Code": "PMNT-RCDT-SALA", "Issuer": "SomeBank"}, "ICDT-STDO"),
        ({"Code": "ICDT", "SubCode": "STDO"}, None, "ICDT-STDO"),
        (None, {"Code": "SO", "Issuer": "SomeBank"}, "SO"),
        (None, None, ""),
    ],
)
def test_bank_transaction_code_is_the_full_iso_code_when_the_bank_gives_the_domain(
    adapter, routes, iso, proprietary, expected
):
    account = adapter.list_accounts(CREDS)[0]
    raw = dict(recorded("albion", "transactions_page2")["Data"]["Transaction"][0])
    raw.pop("BankTransactionCode", None)
    raw.pop("ProprietaryBankTransactionCode", None)
    if iso:
        raw["BankTransactionCode"] = iso
    if proprietary:
        raw["ProprietaryBankTransactionCode"] = proprietary
    assert adapter.normalize_transaction(raw, account).bank_transaction_code == expected


def test_a_missing_indicator_is_malformed_not_silently_positive(adapter, routes):
    account = adapter.list_accounts(CREDS)[0]
    raw = dict(recorded("albion", "transactions_page2")["Data"]["Transaction"][0])
    del raw["CreditDebitIndicator"]
    with pytest.raises(Exception, match="CreditDebitIndicator"):
        adapter.normalize_transaction(raw, account)


def test_revoked_consent_requires_reauthentication(adapter, routes):
    routes["accounts"].mock(return_value=ok("albion", "error_consent_revoked", 403))
    with pytest.raises(ReauthRequiredError):
        adapter.list_accounts(CREDS)


def test_an_expired_access_token_asks_for_a_refresh_not_a_reconnect(adapter, routes):
    routes["accounts"].mock(return_value=httpx.Response(401))
    with pytest.raises(AccessTokenExpiredError):
        adapter.list_accounts(CREDS)


def test_revoke_deletes_the_consent_with_a_client_token(adapter, routes, bank_mock):
    route = bank_mock.delete(f"{BASE}/albion/open-banking/v3.1/aisp/account-access-consents/aac-1").mock(
        return_value=httpx.Response(204)
    )
    adapter.revoke(CREDS)
    assert route.calls.last.request.headers["Authorization"] == "Bearer cc-7Hq2mXbq0s1"


@pytest.mark.parametrize(("mcc", "expected"), [("5411", "5411"), ("541", ""), ("ABCD", ""), (None, "")])
def test_the_merchant_category_code_is_carried_when_it_is_an_iso_18245_code(adapter, routes, mcc, expected):
    account = adapter.list_accounts(CREDS)[0]
    raw = dict(recorded("albion", "transactions_page2")["Data"]["Transaction"][0])
    raw["MerchantDetails"] = {"MerchantName": "Tesco", **({"MerchantCategoryCode": mcc} if mcc else {})}
    assert adapter.normalize_transaction(raw, account).merchant_category_code == expected
