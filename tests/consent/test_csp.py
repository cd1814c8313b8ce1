"""A Content-Security-Policy on every HTML page (issue 17 #13), and our pages need nothing inline to work under
it: no inline <script>, <style>, style= or on…= handlers (the policy would block them)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from tests.factories import ApplicationFactory, ConsentFactory, UserFactory

pytestmark = pytest.mark.django_db

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def _policy(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    header = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


def assert_strict_policy(response) -> None:  # type: ignore[no-untyped-def]
    policy = _policy(response)
    assert policy, "no Content-Security-Policy header"
    assert policy["script-src"] == "script-src 'self'" and policy["style-src"] == "style-src 'self'"
    assert policy["object-src"] == "object-src 'none'" and policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


def assert_nothing_inline(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html, "inline <style>"
    assert not re.search(r"\sstyle=", html), "style= attribute"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def _consent_screen_url() -> str:
    app = ApplicationFactory(name="Budget Buddy")
    consent = ConsentFactory(application=app, permissions=["accounts"])
    params = {
        "client_id": app.client_id, "redirect_uri": "http://tpp.example/callback", "response_type": "code",
        "scope": "accounts", "state": "st-1", "code_challenge": CHALLENGE, "code_challenge_method": "S256",
        "consent_id": str(consent.pk),
    }  # fmt: skip
    return "/oauth/authorize/?" + urlencode(params)


def test_the_consent_screen_has_the_policy_and_nothing_inline(client, alice, alice_accounts):
    client.force_login(alice)
    response = client.get(_consent_screen_url())
    assert response.status_code == 200 and "consent/authorize.js" in response.content.decode()
    assert_strict_policy(response)
    assert_nothing_inline(response.content.decode())


@pytest.mark.parametrize("path", ["/accounts/login/", "/me/consents/", "/me/consents/ended/"])
def test_the_people_pages_have_the_policy_and_nothing_inline(client, alice, alice_accounts, path):
    if path.startswith("/me/"):
        client.force_login(alice)
    response = client.get(path)
    assert response.status_code == 200
    assert_strict_policy(response)
    assert_nothing_inline(response.content.decode())


def test_the_connect_error_page_has_the_policy_and_nothing_inline(client, alice):
    client.force_login(alice)
    response = client.get("/connect/callback/?state=unknown-state")
    assert response["Content-Type"].startswith("text/html") and response.status_code >= 400
    assert_strict_policy(response)
    assert_nothing_inline(response.content.decode())


@pytest.mark.parametrize("path", ["/sandbox/"])
def test_the_sandbox_pages_have_the_policy_and_nothing_inline(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert_strict_policy(response)
    assert_nothing_inline(response.content.decode())


def test_the_api_docs_load_their_init_script_from_a_url(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert_strict_policy(response)
    assert_nothing_inline(response.content.decode())
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


@pytest.mark.parametrize("path", ["/admin/login/", "/admin/", "/admin/consent/application/"])
def test_the_admin_pages_have_the_policy(client, path):
    if path != "/admin/login/":
        client.force_login(UserFactory(username="staff", is_staff=True, is_superuser=True))
    response = client.get(path)
    assert response.status_code == 200
    assert_strict_policy(response)
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", response.content.decode())
