"""The payment consent screen, in process: our screen (amount, payee, reference; the user picks the account),
the bank's SCA (the fake bank's redirect back to the registered connect callback), then the TPP's code and token."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from rest_framework.test import APIClient

from aggregator.payments.models import PaymentConsent
from consent.models import Consent
from consent.services import consent_create_for_payment
from tests.api.factories import TPPFactory

from .conftest import INSTRUCTION

pytestmark = pytest.mark.django_db

VERIFIER = "v" * 64
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
REDIRECT = "http://tpp.example/callback"


@pytest.fixture
def tpp_app(db):  # type: ignore[no-untyped-def]
    return TPPFactory(redirect_uris=REDIRECT)


@pytest.fixture
def browser(alice):  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(alice)
    return client


def _params(consent: Consent) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": consent.application.client_id,
        "redirect_uri": REDIRECT,
        "scope": "payments",
        "state": "tpp-state",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "consent_id": str(consent.pk),
    }


def _approve(browser, consent, account):  # type: ignore[no-untyped-def]
    return browser.post(
        "/oauth/authorize/", {**_params(consent), "decision": "approve", "debtor_account": str(account.public_id)}
    )


def test_the_screen_shows_the_payment_plainly_and_the_accounts_that_can_pay(browser, tpp_app, alice_account):
    consent = consent_create_for_payment(application=tpp_app, instruction=INSTRUCTION)
    response = browser.get("/oauth/authorize/?" + urlencode(_params(consent)))
    html = response.content.decode()
    assert response.status_code == 200
    assert "42.50 GBP" in html and "Acme Energy Ltd" in html and "INV-2026-0042" in html and "20-00-00 55779911" in html
    assert f'value="{alice_account.public_id}"' in html


def test_approval_goes_to_the_bank_then_the_tpp_gets_a_payment_token(browser, tpp_app, alice_account, pay_bank):
    consent = consent_create_for_payment(application=tpp_app, instruction=INSTRUCTION)
    to_bank = _approve(browser, consent, alice_account)
    assert to_bank.status_code == 302 and to_bank["Location"].startswith("https://fake-pay.invalid/sca")
    pc = PaymentConsent.objects.get(pk=consent.payment_consent_id)
    assert pc.debtor_account == alice_account and pc.status == "awaiting_authorisation"
    assert Consent.objects.get(pk=consent.pk).status == "awaiting_authorisation"  # no code before the bank's SCA

    back = browser.get("/connect/callback/", {"state": pc.bank_state, "code": "bank-code"})
    assert back.status_code == 302 and back["Location"].startswith("/oauth/payment-callback/?")
    to_tpp = browser.get(back["Location"])
    assert to_tpp.status_code == 302, to_tpp.content
    location = urlsplit(to_tpp["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT and query["state"] == ["tpp-state"]

    token = Client().post(
        "/oauth/token/",
        {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": REDIRECT,
         "code_verifier": VERIFIER, "client_id": tpp_app.client_id, "client_secret": "tpp-secret"},
    )  # fmt: skip
    assert token.status_code == 200, token.content
    assert token.json()["scope"] == "payments"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access_token']}")
    response = api.post("/api/v1/payments", INSTRUCTION, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 201, response.content
    assert PaymentConsent.objects.get(pk=pc.pk).status == "consumed"


def test_denying_on_our_screen_tells_the_tpp_and_ends_the_payment_consent(browser, tpp_app, alice_account, pay_bank):
    consent = consent_create_for_payment(application=tpp_app, instruction=INSTRUCTION)
    response = browser.post("/oauth/authorize/", {**_params(consent), "decision": "deny"})
    assert response.status_code == 302 and "error=access_denied" in response["Location"]
    assert PaymentConsent.objects.get(pk=consent.payment_consent_id).status == "rejected"
    assert pay_bank.calls == []


def test_refusing_at_the_bank_tells_the_tpp(browser, tpp_app, alice_account, pay_bank):
    consent = consent_create_for_payment(application=tpp_app, instruction=INSTRUCTION)
    _approve(browser, consent, alice_account)
    pc = PaymentConsent.objects.get(pk=consent.payment_consent_id)
    back = browser.get("/connect/callback/", {"state": pc.bank_state, "error": "access_denied"}, follow=False)
    to_tpp = browser.get(back["Location"])
    assert to_tpp.status_code == 302 and "error=access_denied" in to_tpp["Location"]
    assert to_tpp["Location"].startswith(REDIRECT)
    assert PaymentConsent.objects.get(pk=pc.pk).status == "rejected"
    assert Consent.objects.get(pk=consent.pk).status == "rejected"


def test_an_account_that_cannot_pay_is_refused(browser, tpp_app, alice_account, pay_bank):
    consent = consent_create_for_payment(application=tpp_app, instruction={**INSTRUCTION, "currency": "EUR"})
    response = _approve(browser, consent, alice_account)  # a GBP account for a EUR payment
    assert response.status_code == 400
    assert pay_bank.calls == []


def test_someone_elses_bank_state_is_refused(tpp_app, alice_account, pay_bank, browser):
    from tests.factories import UserFactory

    consent = consent_create_for_payment(application=tpp_app, instruction=INSTRUCTION)
    _approve(browser, consent, alice_account)
    pc = PaymentConsent.objects.get(pk=consent.payment_consent_id)
    mallory = Client()
    mallory.force_login(UserFactory(username="mallory"))
    response = mallory.get("/oauth/payment-callback/", {"state": pc.bank_state, "code": "bank-code"})
    assert response.status_code == 400
    assert PaymentConsent.objects.get(pk=pc.pk).status == "awaiting_authorisation"
