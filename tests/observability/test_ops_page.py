"""The operations page: staff only; per-bank figures from the aggregate selectors; SVG charts inline."""

from __future__ import annotations

import pytest
from django.utils import timezone

from aggregator.ops import selectors
from tests.factories import UserFactory
from tests.ops_data import ops_data

pytestmark = pytest.mark.django_db


def test_the_selectors_compute_rates_percentiles_and_error_kinds():
    data = ops_data()
    since = timezone.now() - timezone.timedelta(hours=24)
    stats = {s.bank: s for s in selectors.bank_sync_stats(since=since)}
    albion = stats["albion"]
    assert (albion.runs, albion.succeeded) == (12, 10)
    assert albion.p50 == pytest.approx(6.5) and albion.p95 == pytest.approx(10.55)
    assert albion.errors == {"429": 1, "5xx": 1, "timeout": 0, "auth": 0}
    assert stats["rhein"].errors == {"429": 0, "5xx": 0, "timeout": 1, "auth": 1}
    week = {s.bank: s for s in selectors.bank_sync_stats(since=timezone.now() - timezone.timedelta(days=7))}
    assert week["rhein"].runs == 12 and week["rhein"].succeeded == 10
    counts, recent = selectors.connections_needing_reauth()
    assert counts == {"rhein": 1} and len(recent) == 1
    now_counts, series = selectors.consent_status_series(since=timezone.now() - timezone.timedelta(days=30))
    assert now_counts == {"authorised": 2, "revoked": 1}
    assert sum(n for _, n in series["authorised"]) == 3 and sum(n for _, n in series["revoked"]) == 1
    backlog = selectors.webhook_backlog()
    assert (backlog["pending"], backlog["failed_24h"]) == (data["pending"], 1) and data["pending"] >= 2


def test_staff_see_the_page_with_its_charts(client):
    data = ops_data()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert b'href="/admin/ops/"' in client.get("/admin/").content
    for period in ("24h", "7d"):
        html = client.get("/admin/ops/", {"period": period}).content.decode()
        page = html.split('id="ops"')[1]
        assert page.count('class="ops-chart"') == 4 and "<polyline" in page and "<script" not in page
        assert "albion" in html and "rhein" in html and f"Pending: {data['pending']}" in html


def test_others_are_sent_to_the_admin_login(client):
    assert client.get("/admin/ops/").status_code == 302
    client.force_login(UserFactory(is_staff=False))
    response = client.get("/admin/ops/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_bank_name_is_escaped_in_the_svg(client):
    from aggregator.ops.charts import bar_chart

    svg = bar_chart([("<script>x</script>", 1.0)], title="t & <b>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "t &amp; &lt;b&gt;" in svg
