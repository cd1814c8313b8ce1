from __future__ import annotations

import os
import shutil

import pytest

from tests.consent.conftest import _fast_password_hasher, alice, alice_accounts, sandbox_banks  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture
def browser_context(monkeypatch):  # type: ignore[no-untyped-def]
    """A fresh headless Chromium context (Debian's package, driven by Playwright)."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("REQUIRE_INTEGRATION") == "1":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        yield context
        context.close()
        browser.close()


@pytest.fixture
def page(browser_context):  # type: ignore[no-untyped-def]
    return browser_context.new_page()
