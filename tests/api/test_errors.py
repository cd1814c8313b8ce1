"""Every error status of the API answers in the one JSON shape, with X-Request-ID; never an HTML page."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _assert_shape(response, status):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"errors", "request_id"}
    assert body["errors"] and set(body["errors"][0]) == {"code", "message", "field"}
    assert body["request_id"] == response["X-Request-ID"]
    return body


def test_400(api, shared_account):
    body = _assert_shape(api.get(f"/api/v1/accounts/{shared_account.public_id}/transactions?page_size=x"), 400)
    assert body["errors"][0]["field"] == "page_size"


def test_401_carries_www_authenticate_or_a_code(shared_account):
    body = _assert_shape(APIClient().get("/api/v1/accounts"), 401)
    assert body["errors"][0]["code"] in {"not_authenticated", "token_invalid"}


def test_403(alice, shared_account):
    from .factories import AccessTokenFactory, AuthorisedConsentFactory

    consent = AuthorisedConsentFactory(user=alice, accounts=[shared_account], permissions=["balances"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessTokenFactory(consent=consent).token}")
    assert _assert_shape(client.get("/api/v1/accounts"), 403)["errors"][0]["code"] == "permission_missing"


@pytest.mark.parametrize("debug", [False, True])
def test_404_for_an_unknown_api_url_even_with_debug(api, settings, debug):
    settings.DEBUG = debug
    _assert_shape(api.get("/api/v1/no-such-thing"), 404)
    _assert_shape(APIClient().get("/api/nope"), 404)


def test_405(api):
    response = api.delete("/api/v1/accounts")
    _assert_shape(response, 405)
    assert "GET" in response["Allow"]


def test_406(api):
    _assert_shape(api.get("/api/v1/accounts", HTTP_ACCEPT="text/html"), 406)


def test_415(api, consent):
    response = api.post(f"/api/v1/consents/{consent.pk}/refresh", data="x=1", content_type="text/plain")
    _assert_shape(response, 415)


def test_429_with_retry_after(api, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"tpp": "1000/min", "consent": "2/min", "consent_refresh": "3/hour"},
    }
    assert api.get("/api/v1/accounts").status_code == 200
    assert api.get("/api/v1/accounts").status_code == 200
    response = api.get("/api/v1/accounts")
    body = _assert_shape(response, 429)
    assert body["errors"][0]["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60


@pytest.mark.parametrize("debug", [False, True])
def test_500_inside_a_view(api, settings, monkeypatch, debug):
    settings.DEBUG = debug
    from aggregator.api import selectors

    def boom(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database on fire")

    monkeypatch.setattr(selectors, "account_list_for_consent", boom)
    api.raise_request_exception = False
    body = _assert_shape(api.get("/api/v1/accounts"), 500)
    assert "fire" not in body["errors"][0]["message"]


def test_500_outside_drf_is_json_too(settings, client):
    from django.urls import path

    from aggregator.api import errors  # noqa: F401 - the middleware under test

    def broken(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    import aggregator.config.urls

    settings.ROOT_URLCONF = type(
        "Urls", (), {"urlpatterns": [path("api/v1/broken", broken), *aggregator.config.urls.urlpatterns]}
    )
    client.raise_request_exception = False
    _assert_shape(client.get("/api/v1/broken"), 500)


def test_the_client_request_id_is_echoed(api):
    response = api.get("/api/v1/no-such-thing", HTTP_X_REQUEST_ID="trace-123")
    assert response["X-Request-ID"] == "trace-123"
    assert response.json()["request_id"] == "trace-123"
