"""No input, from anyone, produces a 5xx: nesting, oversize bodies, NUL bytes (issue 17, defect 4).

Run on PostgreSQL too (``DATABASE_URL=postgres://…``): a NUL byte in a text column is PostgreSQL's ``DataError``.
"""

from __future__ import annotations

import base64

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

NESTED = "[" * 1000 + "]" * 1000


@pytest.fixture
def anyone():  # type: ignore[no-untyped-def]
    return Client(raise_request_exception=False)


def _api_error(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["errors"][0]["code"] == code and body["request_id"] == response["X-Request-ID"]


def _oauth_error(response, status: int, error: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == error and response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("auth", [{}, {"HTTP_AUTHORIZATION": "Bearer nonsense"}])
def test_deeply_nested_json_on_the_api_is_a_400_in_the_error_shape(anyone, auth):
    response = anyone.post("/api/v1/consents", NESTED, content_type="application/json", **auth)
    _api_error(response, 400, "parse_error")


def test_json_nested_a_little_is_still_parsed_and_validated(anyone):
    response = anyone.post("/api/v1/consents", "[[[[1]]]]", content_type="application/json")
    assert response.status_code == 401


def test_an_oversize_body_on_the_api_is_a_413_in_the_error_shape(anyone, settings):
    body = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = anyone.post("/api/v1/consents", body, content_type="application/json")
    _api_error(response, 413, "request_too_large")


@pytest.mark.parametrize("path", ["/oauth/token/", "/oauth/revoke_token/"])
def test_an_oversize_body_at_the_token_endpoints_is_a_413_in_rfc6749_json(anyone, settings, path):
    body = "a=" + "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = anyone.post(path, body, content_type="application/x-www-form-urlencoded")
    _oauth_error(response, 413, "invalid_request")


def test_too_many_form_fields_are_a_400_not_a_500(anyone, settings):
    body = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = anyone.post("/oauth/token/", body, content_type="application/x-www-form-urlencoded")
    _oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("path", ["/oauth/token/", "/oauth/revoke_token/"])
def test_a_nul_byte_in_a_form_field_of_the_token_endpoints_is_invalid_request(anyone, path):
    data = {"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "s", "token": "t\x00"}
    _oauth_error(anyone.post(path, data), 400, "invalid_request")


def test_a_nul_byte_in_basic_auth_at_the_token_endpoint_is_invalid_request(anyone):
    credentials = base64.b64encode(b"a\x00b:secret").decode()
    response = anyone.post(
        "/oauth/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {credentials}"
    )
    _oauth_error(response, 400, "invalid_request")


def test_a_nul_byte_in_the_query_string_at_authorize_is_a_400(anyone):
    response = anyone.get("/oauth/authorize/?response_type=code&client_id=a%00b&redirect_uri=x")
    assert response.status_code == 400


def test_a_nul_byte_in_the_bank_callback_state_is_a_400(anyone):
    assert anyone.get("/connect/callback/?state=%00&code=x").status_code == 400


def test_a_nul_byte_in_an_api_query_parameter_is_a_400_in_the_error_shape(anyone):
    _api_error(anyone.get("/api/v1/consents?status=%00"), 400, "bad_request")


def test_a_nul_escape_in_a_json_body_is_a_400_in_the_error_shape(anyone):
    response = anyone.post("/api/v1/consents", '{"permissions": ["\\u0000"]}', content_type="application/json")
    _api_error(response, 400, "bad_request")


@pytest.mark.parametrize("bank", ["albion", "rhein", "liberty"])
def test_the_sandbox_banks_token_and_authorize_endpoints_refuse_a_nul_byte(anyone, settings, bank):
    credentials = base64.b64encode(b"a\x00b:secret").decode()
    token = anyone.post(
        f"/sandbox/{bank}/oauth/token",
        {"grant_type": "client_credentials", "client_id": "a\x00"},
        HTTP_AUTHORIZATION=f"Basic {credentials}",
    )
    assert token.status_code == 400 and token["Content-Type"] == "application/json"
    authorize = anyone.get(f"/sandbox/{bank}/oauth/authorize?client_id=%00&response_type=code&consent_id=%00")
    assert authorize.status_code == 400


def test_a_nul_byte_in_a_sandbox_path_is_a_400(anyone):
    response = anyone.get("/sandbox/albion/oauth/login/%00/")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"


def test_a_malformed_content_length_is_a_400(anyone):
    response = anyone.post("/api/v1/consents", "{}", content_type="application/json", CONTENT_LENGTH="abc")
    _api_error(response, 400, "bad_request")
