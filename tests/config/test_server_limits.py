"""Our own request limits answer before the web server's (issue 17 #12): a long URL (a forged cursor) is a JSON
414 and an oversize or excessive header a JSON 431, each with X-Request-ID, below gunicorn's limits, whose own
refusals are HTML pages (gunicorn.conf.py; the real server is exercised in tests/integration/test_server_limits.py)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from django.test import Client

from aggregator.config.input_guard import MAX_HEADER_BYTES, MAX_HEADER_COUNT, MAX_URL_LENGTH

pytestmark = pytest.mark.django_db


@pytest.fixture
def anyone():  # type: ignore[no-untyped-def]
    return Client(raise_request_exception=False)


def _api_error(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["errors"][0]["code"] == code and body["request_id"] == response["X-Request-ID"]


def test_a_cursor_that_makes_the_url_too_long_is_a_json_414(anyone):
    url = "/api/v1/accounts/?cursor=" + "A" * (MAX_URL_LENGTH - 20)
    _api_error(anyone.get(url), 414, "uri_too_long")


def test_a_url_just_under_the_limit_reaches_the_api(anyone):
    path = "/api/v1/accounts/?cursor="
    response = anyone.get(path + "A" * (MAX_URL_LENGTH - len(path)))
    assert response.status_code == 401  # the API's own answer: no token


def test_a_long_url_at_the_oauth_endpoints_is_an_oauth_error(anyone):
    response = anyone.get("/oauth/authorize/?state=" + "s" * MAX_URL_LENGTH)
    assert response.status_code == 414 and response.json()["error"] == "invalid_request"


def test_a_long_url_elsewhere_is_plain_text(anyone):
    response = anyone.get("/accounts/login/?next=" + "n" * MAX_URL_LENGTH)
    assert response.status_code == 414 and response["Content-Type"].startswith("text/plain")
    assert response["X-Request-ID"]


def test_an_oversize_header_is_a_json_431(anyone):
    _api_error(anyone.get("/api/v1/accounts/", HTTP_X_PADDING="p" * (MAX_HEADER_BYTES + 1)), 431, "header_too_large")


def test_an_oversize_bearer_token_is_a_json_431(anyone):
    response = anyone.get("/api/v1/accounts/", HTTP_AUTHORIZATION="Bearer " + "t" * MAX_HEADER_BYTES)
    _api_error(response, 431, "header_too_large")


def test_too_many_headers_are_a_json_431(anyone):
    headers = {f"HTTP_X_H{n}": "v" for n in range(MAX_HEADER_COUNT + 1)}
    _api_error(anyone.get("/api/v1/accounts/", **headers), 431, "header_too_large")


def test_ordinary_headers_pass(anyone):
    headers = {f"HTTP_X_H{n}": "v" * 100 for n in range(20)}
    assert anyone.get("/api/v1/accounts/", **headers).status_code == 401


def test_the_app_limits_sit_below_gunicorns():
    conf = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    assert len("GET  HTTP/1.1") + MAX_URL_LENGTH < conf["limit_request_line"] <= 8190
    assert conf["limit_request_field_size"] > MAX_HEADER_BYTES
    assert MAX_HEADER_COUNT < conf["limit_request_fields"] <= 32768
