"""The sandbox banks served in-process to an adapter: respx forwards every request the adapter makes to
``http://testserver`` to the Django app (through the test client), so adapter tests run against the real
sandbox views, OAuth servers and data without a live server; ``approve`` plays the user at the bank's pages."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from django.test import Client

from providers.sandbox.oauth.clients import client_sync_demo

__all__ = ["REDIRECT", "approve", "config", "sandbox"]

REDIRECT = "http://127.0.0.1:8000/payments/callback/"


def config(bank: str) -> dict[str, str]:
    return {
        "base_url": f"http://testserver/sandbox/{bank}",
        "client_id": f"aggregator-{bank}",
        "client_secret": f"{bank}-sandbox-secret",
    }


@pytest.fixture
def sandbox(db) -> Iterator[Client]:  # type: ignore[no-untyped-def]
    client_sync_demo()
    django_client = Client()

    def forward(request: httpx.Request) -> httpx.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", "content-length"}}
        response = django_client.generic(
            request.method,
            request.url.raw_path.decode(),
            data=request.content,
            content_type=request.headers.get("content-type", ""),
            headers=headers,
        )
        return httpx.Response(response.status_code, headers=dict(response.items()), content=response.content)

    with respx.mock(assert_all_called=False) as router:
        router.route(host="testserver").mock(side_effect=forward)
        yield django_client


def approve(client: Client, url: str, username: str, account_id: str, action: str = "approve") -> dict[str, str]:
    """Log in at the bank's pages as ``username``, pick ``account_id`` and approve (or deny): the parameters
    of the redirect back to us."""
    response = client.get(url)
    assert response.status_code == 302, response.content
    response = client.post(response["Location"], {"username": username, "password": "sandbox"})
    response = client.post(response["Location"], {"accounts": [account_id], "action": action})
    assert response["Location"].startswith(REDIRECT), response["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
