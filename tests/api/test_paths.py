"""Trailing slashes: the API and the OAuth endpoints answer both spellings; an unknown API path names the right one."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_an_api_path_with_a_trailing_slash_answers_like_the_canonical_one(api, shared_account):
    plain = api.get("/api/v1/accounts")
    slashed = api.get("/api/v1/accounts/")
    assert slashed.status_code == 200, slashed.content
    assert slashed.json()["data"] == plain.json()["data"]
    assert slashed.json()["links"]["self"].endswith("/api/v1/accounts")
    detail = api.get(f"/api/v1/accounts/{shared_account.public_id}/balances/")
    assert detail.status_code == 200 and detail.json()["data"] is not None


def test_the_token_endpoint_answers_without_its_trailing_slash(client):
    out = io.StringIO()
    call_command("create_tpp", "Slashless", "--redirect-uri", "https://tpp.example/cb", "--json", stdout=out)
    creds = json.loads(out.getvalue())
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    response = client.post(
        "/oauth/token", {"grant_type": "client_credentials", "scope": "consents"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    consents = client.get("/api/v1/consents/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert consents.status_code == 200 and consents.json()["data"] == []


@pytest.mark.parametrize(
    ("path", "suggested"),
    [
        ("/api/v1/account", "/api/v1/accounts"),
        ("/api/v1/accounts/0b6c9b0e-7c1f-4f1e-9a53-0d5e2f3f1a11/balance", "/api/v1/accounts/{account_id}/balances"),
        ("/api/v1/transaction/sync", "/api/v1/transactions/sync"),
    ],
)
def test_an_unknown_api_path_is_a_json_404_naming_the_closest_path(path, suggested):
    response = APIClient().get(path)
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")
    error = response.json()["errors"][0]
    assert error["code"] == "not_found" and repr(suggested) in error["message"]
