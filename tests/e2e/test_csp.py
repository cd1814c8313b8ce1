"""Pages work in a real browser under the Content-Security-Policy (no violation reported), and the sign-in page's
proof-of-work challenge is solved by the browser when the server asks for it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def violations(page):  # type: ignore[no-untyped-def]
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None)
    return seen


def test_a_challenged_sign_in_succeeds_in_the_browser(page, live_server, alice, settings, violations):  # type: ignore[no-untyped-def]
    # Every sign-in needs a solved challenge (threshold 0): the page's script must solve it before sending.
    settings.CONSENT = {**settings.CONSENT, "LOGIN_CHALLENGE_ADDRESS_FAILURES": 0, "LOGIN_CHALLENGE_BITS": 12}
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-demo")
    page.click("button[type=submit]")
    page.wait_for_url("**/me/consents/", timeout=30_000)
    assert violations == []


def test_the_admin_and_api_docs_raise_no_csp_violation(page, live_server, violations):  # type: ignore[no-untyped-def]
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    staff.set_password("staff-pass")
    staff.save()
    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", "staff")
    page.fill("#id_password", "staff-pass")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")
    for name in ("admin:consent_application_add", "admin:consent_consent_changelist"):
        page.goto(live_server.url + reverse(name))
        page.wait_for_selector("#content-main")
    page.goto(live_server.url + "/api/docs/")
    page.wait_for_selector("[id$='-accounts_list']", timeout=15_000)
    assert violations == []
