"""/metrics: the exposition for the scraper only (bearer token or allowed network), labelled by route name."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def metrics_settings(settings):  # type: ignore[no-untyped-def]
    def apply(token: str = "", networks: list[str] | None = None) -> None:
        settings.AGGREGATOR = {
            **settings.AGGREGATOR,
            "METRICS_TOKEN": token,
            "METRICS_ALLOWED_NETWORKS": networks or [],
        }

    return apply


def test_a_scraper_with_the_token_gets_the_exposition(client, metrics_settings):
    metrics_settings(token="s3cret-token-value")
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token-value", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"# TYPE http_requests_total counter" in response.content


@pytest.mark.parametrize("header", ["", "Bearer wrong", "Basic s3cret-token-value", "Bearer s3cret-token-valu"])
def test_a_wrong_or_missing_token_is_refused(client, metrics_settings, header):
    metrics_settings(token="s3cret-token-value")
    response = client.get("/metrics", HTTP_AUTHORIZATION=header, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403 and b"http_requests_total" not in response.content


def test_an_allowed_network_needs_no_token_and_others_are_refused(client, metrics_settings):
    metrics_settings(networks=["10.0.0.0/8"])
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="11.1.2.3").status_code == 403
    # a forwarded header is never believed
    assert client.get("/metrics", REMOTE_ADDR="11.1.2.3", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403


def test_nothing_configured_means_nobody(client, metrics_settings):
    metrics_settings()
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_requests_are_counted_by_route_name_never_by_raw_path(client, metrics_settings):
    metrics_settings(networks=["127.0.0.0/8"])
    client.get("/api/v1/accounts/1234567/balances")  # unauthenticated: 401, route api:account-balances
    client.get("/no/such/page/9876")
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'endpoint="api:account-balances"' in text
    labels = [line.split("}")[0] for line in text.splitlines() if "endpoint=" in line]
    assert labels and not any("1234567" in label or "9876" in label for label in labels)
    assert 'endpoint="unmatched"' in text


def test_the_queue_depth_is_read_from_the_broker(client, metrics_settings):
    metrics_settings(networks=["127.0.0.0/8"])
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "celery_queue_depth_up 1.0" in text
    for queue in ("sync", "webhooks", "maintenance", "celery"):
        assert f'celery_queue_depth{{queue="{queue}"}}' in text
