"""Headless Chromium (Debian's package, driven by Playwright) clicks through login, bank connection and approval."""

from __future__ import annotations

import pytest

from consent.models import Consent
from tests.consent import flow

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_user_logs_in_connects_a_bank_and_approves_in_a_browser(page, live_server, alice, sandbox_banks):  # type: ignore[no-untyped-def]
    tpp = flow.create_tpp(live_server.url)
    created = tpp.create_consent(permissions=["accounts", "transactions"])
    url, _state, verifier = tpp.authorize_url(created["id"], scope="accounts transactions")

    page.goto(url)
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-demo")
    page.click("button[type=submit]")
    page.wait_for_selector("#consent-form")
    assert page.inner_text("#tpp-name") == "Budget Buddy"
    assert "payments in and out" in page.inner_text("#permissions")

    page.click("a.connect[data-slug=albion]")
    page.wait_for_selector("input[name=password]")
    page.fill("#username", "alice")
    page.fill("#password", "sandbox")
    page.click("button[type=submit]")
    page.wait_for_selector("input[name=accounts]")
    page.click("button[value=approve]")
    page.wait_for_selector("#consent-form")
    assert "connection=" in page.url

    # Tick the first account (if the connection step did not pre-select it) and approve.
    first = page.locator("input[name=accounts]").first
    if not first.is_checked():
        first.check()
    shared = page.locator("input[name=accounts]:checked").count()
    with page.expect_request(lambda r: r.url.startswith(flow.REDIRECT_URI)) as callback:
        page.click("#approve")
    token = tpp.exchange(callback.value.url, verifier)
    assert token["scope"] == "accounts transactions"
    consent = Consent.objects.get(pk=created["id"])
    assert consent.status == "authorised" and consent.accounts.count() == shared >= 1


def test_approve_stays_disabled_until_an_account_is_ticked(page, live_server, alice, alice_accounts):  # type: ignore[no-untyped-def]
    tpp = flow.create_tpp(live_server.url)
    created = tpp.create_consent(permissions=["accounts"])
    url, _state, _verifier = tpp.authorize_url(created["id"], scope="accounts")

    page.goto(url)
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-demo")
    page.click("button[type=submit]")
    page.wait_for_selector("#consent-form")
    approve, deny = page.locator("#approve"), page.locator("#deny")
    assert page.locator("input[name=accounts]:checked").count() == 0
    assert approve.is_disabled() and deny.is_enabled()

    first = page.locator("input[name=accounts]").first
    first.check()
    assert approve.is_enabled()
    first.uncheck()
    assert approve.is_disabled()
