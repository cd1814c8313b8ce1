"""Fixtures for the adapter unit tests: recorded sandbox payloads served by respx (no network)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from providers import http as provider_http
from providers.oauth import discovery_cache_clear

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "recorded"
BASE = "https://bank.test/sandbox"


def recorded(bank: str, name: str) -> Any:
    return json.loads((RECORDED / bank / f"{name}.json").read_text())


def ok(bank: str, name: str, status: int = 200, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, json=recorded(bank, name), **kwargs)


@pytest.fixture(autouse=True)
def _bank_settings(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    settings.SANDBOX_BASE_URL = BASE
    settings.AGGREGATOR = {**settings.AGGREGATOR, "HTTP_RETRY_INITIAL": 0.0, "HTTP_RETRY_MAX_WAIT": 0.0}
    discovery_cache_clear()
    provider_http.reset_provider_client()
    yield
    discovery_cache_clear()
    provider_http.reset_provider_client()


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:  # type: ignore[no-untyped-def]
    """The waits the retry policy asked for (nothing really sleeps)."""
    waits: list[float] = []
    monkeypatch.setattr(provider_http, "_sleep", waits.append)
    return waits


@pytest.fixture
def bank_mock(sleeps) -> Iterator[respx.MockRouter]:  # type: ignore[no-untyped-def]
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield router


def _oauth_routes(router: respx.MockRouter, bank: str) -> dict[str, respx.Route]:
    """The bank's OAuth metadata, and a token endpoint answering each grant with its recorded token response."""
    base = f"{BASE}/{bank}"
    names = {"refresh_token": "token_refresh", "client_credentials": "token_client_credentials"}

    def token(request: httpx.Request) -> httpx.Response:
        grant = parse_qs(request.content.decode()).get("grant_type", [""])[0]
        return ok(bank, names.get(grant, "token_authorization_code"))

    return {
        "metadata": router.get(f"{base}/.well-known/oauth-authorization-server").mock(
            return_value=ok(bank, "oauth_metadata")
        ),
        "token": router.post(f"{base}/oauth/token").mock(side_effect=token),
    }


def mock_albion(router: respx.MockRouter) -> dict[str, respx.Route]:
    base = f"{BASE}/albion"
    aisp = f"{base}/open-banking/v3.1/aisp"
    return {
        **_oauth_routes(router, "albion"),
        "consent": router.post(f"{aisp}/account-access-consents").mock(
            return_value=ok("albion", "consent_created", 201)
        ),
        "accounts": router.get(f"{aisp}/accounts").mock(return_value=ok("albion", "accounts")),
        "balances_current": router.get(f"{aisp}/accounts/alb-alice-cur-8f3a/balances").mock(
            return_value=ok("albion", "balances_current")
        ),
        "balances_card": router.get(f"{aisp}/accounts/alb-alice-cc-19d2/balances").mock(
            return_value=ok("albion", "balances_card")
        ),
        "transactions_p2": router.get(f"{aisp}/accounts/alb-alice-cur-8f3a/transactions", params={"page": "2"}).mock(
            return_value=ok("albion", "transactions_page2")
        ),
        "transactions": router.get(f"{aisp}/accounts/alb-alice-cur-8f3a/transactions").mock(
            return_value=ok("albion", "transactions_page1")
        ),
        "transactions_card": router.get(f"{aisp}/accounts/alb-alice-cc-19d2/transactions").mock(
            return_value=httpx.Response(200, json={"Data": {"Transaction": []}, "Links": {"Self": "x"}})
        ),
    }


def mock_rhein(router: respx.MockRouter) -> dict[str, respx.Route]:
    base = f"{BASE}/rhein"
    api = f"{base}/v1"
    return {
        **_oauth_routes(router, "rhein"),
        "consent": router.post(f"{api}/consents").mock(return_value=ok("rhein", "consent_created", 201)),
        "accounts": router.get(f"{api}/accounts").mock(return_value=ok("rhein", "accounts")),
        "balances": router.get(url__regex=rf"{api}/accounts/[^/]+/balances").mock(return_value=ok("rhein", "balances")),
        "transactions_p2": router.get(
            f"{api}/accounts/rh-alice-giro-2c7e/transactions", params={"pageIndex": "1"}
        ).mock(return_value=ok("rhein", "transactions_page2")),
        "transactions": router.get(f"{api}/accounts/rh-alice-giro-2c7e/transactions").mock(
            return_value=ok("rhein", "transactions_page1")
        ),
        "transactions_card": router.get(f"{api}/accounts/rh-alice-card-77b1/transactions").mock(
            return_value=httpx.Response(200, json={"transactions": {"booked": [], "pending": [], "_links": {}}})
        ),
    }


def mock_liberty(router: respx.MockRouter) -> dict[str, respx.Route]:
    base = f"{BASE}/liberty"
    return {
        **_oauth_routes(router, "liberty"),
        "accounts": router.get(f"{base}/accounts").mock(return_value=ok("liberty", "accounts")),
        "numbers": router.get(f"{base}/numbers").mock(return_value=ok("liberty", "numbers")),
        "sync_p2": router.get(
            f"{base}/transactions/sync", params={"cursor": recorded("liberty", "sync_page1")["next_cursor"]}
        ).mock(return_value=ok("liberty", "sync_page2")),
        "sync": router.get(f"{base}/transactions/sync").mock(return_value=ok("liberty", "sync_page1")),
    }


MOCKS = {
    "obie": ("albion", mock_albion),
    "berlin_group": ("rhein", mock_rhein),
    "cursor_delta": ("liberty", mock_liberty),
}


# The sandbox banks served in-process to the adapters (payment tests): the ``sandbox`` fixture.
from .sandbox_http import sandbox  # noqa: E402, F401
