"""Admin lists fit a 1400 px wide screen: no column is cut off behind a horizontal scrollbar."""

from __future__ import annotations

import pytest
from django.urls import reverse

from consent.models import Application
from consent.services import consent_authorise
from tests.factories import ConsentFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_consent_and_tpp_lists_fit_1400_px(page, live_server, alice, alice_accounts):  # type: ignore[no-untyped-def]
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    staff.set_password("staff-pass")
    staff.save()
    app = Application.objects.create(
        name="Budget Buddy", client_type="confidential", authorization_grant_type="authorization-code",
        redirect_uris="https://tpp.example/cb", webhook_url="https://budget-buddy.example.com/hooks/open-banking/events",
        webhook_secret="s",
    )  # fmt: skip
    for _ in range(3):
        consent = ConsentFactory(application=app)
        consent_authorise(consent=consent, user=alice, accounts=alice_accounts[:1])

    page.goto(live_server.url + reverse("admin:login"))  # ADMIN_URL may move the admin
    page.fill("#id_username", "staff")
    page.fill("#id_password", "staff-pass")
    page.click("input[type=submit]")
    for path in (reverse("admin:consent_consent_changelist"), reverse("admin:consent_application_changelist")):
        page.goto(live_server.url + path)
        page.wait_for_selector("#result_list")
        overflow = page.evaluate(
            "() => { const r = document.querySelector('#changelist .results');"
            " return [r.scrollWidth, r.clientWidth, document.documentElement.scrollWidth]; }"
        )
        assert overflow[0] <= overflow[1] and overflow[2] <= 1400, (path, overflow)
