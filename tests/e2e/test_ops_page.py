"""The operations page in a real browser: staff reach it from the admin index and see the charts drawn."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory
from tests.ops_data import ops_data

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_staff_open_the_operations_page_from_the_admin_and_see_its_charts(page, live_server):  # type: ignore[no-untyped-def]
    data = ops_data()
    staff = UserFactory(username="ops-staff", is_staff=True, is_superuser=True)
    staff.set_password("ops-pass-123")
    staff.save()
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "ops-staff")
    page.fill("#id_password", "ops-pass-123")
    page.click("input[type=submit]")
    page.click("text=Operations dashboard")
    page.wait_for_selector("#ops-sync-success svg")
    # the success-rate chart has a line for albion (hourly points over 24 h) and both banks in the table
    assert page.locator("#ops-sync-success svg polyline").count() >= 1
    assert page.locator("#ops-sync-duration svg rect").count() >= 2
    assert page.locator("#ops-bank-errors svg rect").count() == 4  # albion 429 + 5xx, rhein timeout + auth
    box = page.locator("#ops-sync-success svg").bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100  # really drawn, not collapsed
    rows = page.locator("#ops-bank-table tbody tr").all_inner_texts()
    assert any(r.startswith("albion") and "83 %" in r for r in rows), rows  # 10 of 12
    assert "rhein: 1" in page.inner_text("#ops-reauth")
    assert f"Pending: {data['pending']} " in page.inner_text("#ops-webhooks")
    page.click("text=7d")
    page.wait_for_url("**period=7d")
    assert any(r.startswith("rhein") for r in page.locator("#ops-bank-table tbody tr").all_inner_texts())
    page.screenshot(path="/tmp/ops_page.png", full_page=True)
