"""Drive the TPP side (authlib) and the user side (httpx + cookie jar, HTML forms) of the consent flow."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from django.core.management import call_command
from django.utils import timezone

REDIRECT_URI = "http://tpp.example/callback"
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
ACCOUNT_RE = re.compile(r'name="accounts" value="([^"]+)"')


@dataclass
class Tpp:
    base: str
    client_id: str
    client_secret: str
    redirect_uri: str = REDIRECT_URI

    def client(self, **kwargs) -> OAuth2Client:  # type: ignore[no-untyped-def]
        return OAuth2Client(
            self.client_id,
            self.client_secret,
            token_endpoint_auth_method="client_secret_basic",
            redirect_uri=kwargs.pop("redirect_uri", self.redirect_uri),
            **kwargs,
        )

    @property
    def token_url(self) -> str:
        return self.base + "/oauth/token/"

    def management_client(self) -> OAuth2Client:
        client = self.client()
        client.fetch_token(self.token_url, grant_type="client_credentials", scope="consents")
        return client

    def create_consent(self, **overrides) -> dict:  # type: ignore[no-untyped-def]
        body = {
            "permissions": ["accounts", "balances", "transactions"],
            "expires_at": (timezone.now() + dt.timedelta(days=30)).isoformat(),
            "transactions_from": "2025-01-01T00:00:00Z",
            "transactions_to": "2026-12-31T00:00:00Z",
        }
        body.update(overrides)
        response = self.management_client().post(self.base + "/api/v1/consents", json=body)
        assert response.status_code == 201, response.text
        return response.json()["data"]

    def authorize_url(
        self, consent_id: str, *, scope: str = "accounts balances transactions", verifier: str | None = None, **extra
    ) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
        """(url, state, code_verifier) for a PKCE S256 authorization request."""
        verifier = verifier or generate_token(48)
        client = self.client(scope=scope, code_challenge_method="S256")
        params = {"consent_id": consent_id, **extra}
        url, state = client.create_authorization_url(self.base + "/oauth/authorize/", code_verifier=verifier, **params)
        return url, state, verifier

    def exchange(self, callback_url: str, verifier: str, **kwargs) -> dict:  # type: ignore[no-untyped-def]
        client = self.client()
        return client.fetch_token(self.token_url, authorization_response=callback_url, code_verifier=verifier, **kwargs)


def create_tpp(base: str, name: str = "Budget Buddy", redirect_uri: str = REDIRECT_URI) -> Tpp:
    out = io.StringIO()
    call_command("create_tpp", name, "--redirect-uri", redirect_uri, "--json", stdout=out)
    data = json.loads(out.getvalue())
    return Tpp(base=base, client_id=data["client_id"], client_secret=data["client_secret"], redirect_uri=redirect_uri)


def csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in page"
    return match.group(1)


def browser(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, follow_redirects=False, timeout=20)


def login(http: httpx.Client, username: str, password: str, next_url: str) -> httpx.Response:
    """Follow the redirect to the login page, post the form, return the response of the page after login."""
    page = http.get("/accounts/login/", params={"next": next_url})
    response = http.post(
        "/accounts/login/",
        data={"username": username, "password": password, "next": next_url, "csrfmiddlewaretoken": csrf(page.text)},
    )
    assert response.status_code == 302, f"login failed: {response.status_code}"
    return http.get(response.headers["location"])


def open_consent_screen(http: httpx.Client, authorize_url: str, username: str, password: str) -> httpx.Response:
    path = authorize_url[len(str(http.base_url).rstrip("/")) :]
    first = http.get(path)
    if first.status_code == 302 and "/accounts/login/" in first.headers["location"]:
        return login(http, username, password, path)
    return first


def submit_consent(
    http: httpx.Client, screen: httpx.Response, decision: str, accounts: list[str] | None = None
) -> httpx.Response:
    fields = dict(HIDDEN_RE.findall(screen.text))
    fields.pop("csrfmiddlewaretoken", None)
    data: dict[str, str | list[str]] = {**fields, "csrfmiddlewaretoken": csrf(screen.text), "decision": decision}
    data["accounts"] = ACCOUNT_RE.findall(screen.text) if accounts is None else accounts
    return http.post("/oauth/authorize/", data=data)


def callback_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, f"expected a redirect, got {response.status_code}: {response.text[:500]}"
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI.split("?")[0]), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def absolute(base: str, location: str) -> str:
    return urljoin(base + "/", location)


def follow_local(http: httpx.Client, response: httpx.Response, *, until: str, max_hops: int = 15) -> httpx.Response:
    """Follow redirects on this server until a URL containing ``until`` is fetched (or a page is returned)."""
    for _ in range(max_hops):
        if response.status_code not in (301, 302, 303):
            return response
        location = response.headers["location"]
        response = http.get(absolute(str(http.base_url).rstrip("/"), location))
        if until in location and response.status_code not in (301, 302, 303):
            return response
    raise AssertionError("too many redirects")


def connect_sandbox_bank(
    http: httpx.Client, screen: httpx.Response, slug: str, bank_user: str = "alice"
) -> httpx.Response:
    """From the consent screen: connect ``slug`` via the sandbox bank's login and account selection.

    Returns the consent screen we are sent back to (``?connection=<public_id>``)."""
    link = re.search(rf'data-slug="{slug}" href="([^"]+)"', screen.text)
    assert link, f"no connect link for {slug}"
    href = link.group(1).replace("&amp;", "&")
    response = follow_local(http, http.get(href), until="/sandbox/")
    assert response.status_code == 200 and 'name="password"' in response.text, response.text[:300]
    login_url = str(response.url)
    response = http.post(
        login_url, data={"username": bank_user, "password": "sandbox", "csrfmiddlewaretoken": csrf(response.text)}
    )
    response = follow_local(http, response, until="/sandbox/")
    assert 'name="accounts"' in response.text, response.text[:500]
    bank_accounts = re.findall(r'name="accounts" value="([^"]+)"', response.text)
    response = http.post(
        str(response.url),
        data={"accounts": bank_accounts, "action": "approve", "csrfmiddlewaretoken": csrf(response.text)},
    )
    return follow_local(http, response, until="/oauth/authorize/")
