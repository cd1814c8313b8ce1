"""Helpers for the sandbox bank tests: OAuth flows driven through the Django test client, and spec validation.

The official OpenAPI files are big: each is parsed once per process (``functools.cache``) and validated with
openapi-core against the response the view really produced (``response.wsgi_request`` + ``response``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import uuid
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import yaml
from django.conf import settings
from django.test import Client
from openapi_core import Config, OpenAPI
from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse

SPECS = Path(settings.BASE_DIR) / "providers" / "sandbox" / "openapi" / "official"
OBIE_SPEC = SPECS / "obie-account-info-v3.1.11.yaml"
OBIE_PIS_SPEC = SPECS / "obie-payment-initiation-v3.1.11.yaml"
BG_SPEC = SPECS / "berlin-group-nextgenpsd2-v1.3.11.yaml"
LIBERTY_SPEC = Path(settings.BASE_DIR) / "providers" / "sandbox" / "openapi" / "liberty.yaml"

REDIRECT_URI = "http://127.0.0.1:8000/connect/callback/"
SECRETS = {"albion": "albion-sandbox-secret", "rhein": "rhein-sandbox-secret", "liberty": "liberty-sandbox-secret"}
ALBION = "/sandbox/albion/open-banking/v3.1/aisp"
ALBION_PIS = "/sandbox/albion/open-banking/v3.1/pisp"
RHEIN = "/sandbox/rhein/v1"
LIBERTY = "/sandbox/liberty"
ALL_PERMISSIONS = [
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadTransactionsDetail",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
]


def _spec_path(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"official spec not found at {path}: spec validation cannot be skipped", pytrace=False)
    return path


@cache
def openapi_for(bank: str) -> OpenAPI:
    """The bank's OpenAPI document with its server pointed at the test client's host."""
    path = {"albion": OBIE_SPEC, "albion-pis": OBIE_PIS_SPEC, "rhein": BG_SPEC, "liberty": LIBERTY_SPEC}[bank]
    data = yaml.load(_spec_path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    base = {"albion": ALBION, "albion-pis": ALBION_PIS, "rhein": "/sandbox/rhein", "liberty": LIBERTY}[bank]
    data["servers"] = [{"url": f"http://testserver{base}"}]
    for item in data["paths"].values():  # the OBIE file writes status codes as YAML integers
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"] = {str(k): v for k, v in operation["responses"].items()}
    return OpenAPI.from_dict(data, config=Config(spec_validator_cls=None))


def assert_conforms(bank: str, response) -> None:  # type: ignore[no-untyped-def]
    """The response (success or error) is one the bank's OpenAPI document allows for that operation."""
    openapi_for(bank).validate_response(DjangoOpenAPIRequest(response.wsgi_request), DjangoOpenAPIResponse(response))


def basic(bank: str, client_id: str | None = None) -> str:
    cid = client_id or f"aggregator-{bank}"
    return "Basic " + base64.b64encode(f"{cid}:{SECRETS[bank]}".encode()).decode()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def albion_client_token(client: Client, scope: str = "accounts") -> str:
    response = client.post(
        "/sandbox/albion/oauth/token",
        {"grant_type": "client_credentials", "scope": scope},
        HTTP_AUTHORIZATION=basic("albion"),
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def albion_consent(client: Client, permissions: list[str] | None = None, **data: str) -> str:
    token = albion_client_token(client)
    body = {"Data": {"Permissions": permissions or ALL_PERMISSIONS, **data}, "Risk": {}}
    response = client.post(
        f"{ALBION}/account-access-consents",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201, response.content
    return response.json()["Data"]["ConsentId"]


def rhein_consent(client: Client, frequency: int = 4, access: dict | None = None, valid_until: str = "") -> str:
    from providers.sandbox.bankdata import sandbox_now

    body = {
        "access": access or {"allPsd2": "allAccounts"},
        "recurringIndicator": True,
        "validUntil": valid_until or (sandbox_now().date() + dt.timedelta(days=90)).isoformat(),
        "frequencyPerDay": frequency,
        "combinedServiceIndicator": False,
    }
    response = client.post(
        f"{RHEIN}/consents",
        body,
        content_type="application/json",
        HTTP_X_REQUEST_ID=str(uuid.uuid4()),
        HTTP_PSU_IP_ADDRESS="192.168.8.78",
    )
    assert response.status_code == 201, response.content
    return response.json()["consentId"]


def authorize(
    client: Client,
    bank: str,
    *,
    consent_id: str = "",
    username: str = "alice",
    password: str = "sandbox",
    redirect_uri: str = REDIRECT_URI,
    challenge: str = "",
    accounts: list[str] | None = None,
    action: str = "approve",
    state: str = "st-123",
    scope: str = "accounts",
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Drive authorize → login → select; return the query parameters of the redirect back to the client.
    ``extra``: more authorization request parameters (an OIDC ``request`` object, …)."""
    params = {
        "response_type": "code",
        "client_id": f"aggregator-{bank}",
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        **(extra or {}),
    }
    if consent_id:
        params["consent_id"] = consent_id
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    response = client.get(f"/sandbox/{bank}/oauth/authorize?{urlencode(params)}")
    assert response.status_code == 302, response.content
    login_url = response["Location"]
    assert "/oauth/login/" in login_url, login_url
    response = client.post(login_url, {"username": username, "password": password})
    assert response.status_code == 302, response.content
    select_url = response["Location"]
    page = client.get(select_url)
    assert page.status_code == 200
    if accounts is None:
        from providers.sandbox.bankdata import user_accounts

        accounts = [a.id for a in user_accounts(bank, username)]
    response = client.post(select_url, {"accounts": accounts, "action": action})
    assert response.status_code == 302, response.content
    location = response["Location"]
    assert location.startswith(redirect_uri), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(client: Client, bank: str, code: str, verifier: str = "", redirect_uri: str = REDIRECT_URI):  # type: ignore[no-untyped-def]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier:
        data["code_verifier"] = verifier
    return client.post(f"/sandbox/{bank}/oauth/token", data, HTTP_AUTHORIZATION=basic(bank))


def refresh(client: Client, bank: str, refresh_token: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/sandbox/{bank}/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
        HTTP_AUTHORIZATION=basic(bank),
    )


def connect(client: Client, bank: str, username: str = "alice", **consent_kwargs) -> dict:  # type: ignore[no-untyped-def]
    """Full flow for ``bank``: returns the token response plus ``consent_id``."""
    consent_id = ""
    if bank == "albion":
        consent_id = albion_consent(client, **consent_kwargs)
    elif bank == "rhein":
        consent_id = rhein_consent(client, **consent_kwargs)
    verifier, challenge = pkce_pair()
    result = authorize(client, bank, consent_id=consent_id, username=username, challenge=challenge)
    response = exchange(client, bank, result["code"], verifier)
    assert response.status_code == 200, response.content
    return {**response.json(), "consent_id": consent_id}


def rhein_headers(token: str, consent_id: str, psu_present: bool = False) -> dict[str, str]:
    headers = {
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_CONSENT_ID": consent_id,
        "HTTP_X_REQUEST_ID": str(uuid.uuid4()),
    }
    if psu_present:
        headers["HTTP_PSU_IP_ADDRESS"] = "192.168.8.78"
    return headers


@pytest.fixture
def demo_clients(db):  # type: ignore[no-untyped-def]
    from providers.sandbox.oauth.clients import client_sync_demo

    return client_sync_demo()
