"""The token endpoint answers RFC 6749 JSON whatever fails below it; the API answers 503, not 500, when busy."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import Client
from oauth2_provider.views import TokenView

pytestmark = pytest.mark.django_db


def _fail_with(monkeypatch, exc: Exception) -> None:  # type: ignore[no-untyped-def]
    def post(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise exc

    monkeypatch.setattr(TokenView, "post", post)


def test_a_locked_database_is_a_503_temporarily_unavailable_in_json(monkeypatch):
    _fail_with(monkeypatch, OperationalError("database is locked"))
    response = Client(raise_request_exception=False).post("/oauth/token/", {"grant_type": "client_credentials"})
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    assert response.json()["error"] == "temporarily_unavailable" and response.json()["error_description"]
    assert response["Retry-After"] == "1" and response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/oauth/token/", "/oauth/token", "/oauth/revoke_token/"])
def test_any_other_failure_is_a_json_server_error_never_an_html_page(monkeypatch, settings, path):
    settings.DEBUG = True  # make run's default: Django's technical 500 page is what leaked before
    _fail_with(monkeypatch, RuntimeError("boom"))
    from oauth2_provider.views import RevokeTokenView

    monkeypatch.setattr(RevokeTokenView, "post", TokenView.post)
    response = Client(raise_request_exception=False).post(path, {"grant_type": "client_credentials"})
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert response.json() == {"error": "server_error", "error_description": "Internal server error."}


def test_a_wrong_method_on_the_token_endpoint_is_json_too():
    response = Client().get("/oauth/token/")
    assert response.status_code == 405 and response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid_request"


def test_the_authorize_page_keeps_its_html():
    response = Client().get("/oauth/authorize/")
    assert not response["Content-Type"].startswith("application/json")


def test_a_busy_database_in_an_api_view_is_a_503_with_retry_after(monkeypatch):
    from aggregator.api import views
    from tests.api.factories import AccessTokenFactory

    def busy(**kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("database is locked")

    monkeypatch.setattr(views.selectors, "account_list_for_consent", busy)
    token = AccessTokenFactory()
    response = Client().get("/api/v1/accounts", HTTP_AUTHORIZATION=f"Bearer {token.token}")
    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response.json()["errors"][0]["code"] == "temporarily_unavailable"
