"""Headless Chromium (Debian's package, driven by Playwright) clicks through login, bank connection and approval."""

from __future__ import annotations

import os
import shutil

import pytest

from consent.models import Consent
from tests.consent import flow

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture
def page(monkeypatch):  # type: ignore[no-untyped-def]
    if not shutil.which(CHROMIUM):
        if os.environ.get("REQUIRE_INTEGRATION") == "1":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context()
        yield context.new_page()
        context.close()
        browser.close()


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
