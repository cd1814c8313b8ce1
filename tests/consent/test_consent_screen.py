"""The consent screen (/oauth/authorize/): what the user sees before approving."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from tests.factories import ApplicationFactory, ConsentFactory, InstitutionFactory

pytestmark = pytest.mark.django_db

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.fixture
def screen_url():  # type: ignore[no-untyped-def]
    def build(**extra: str) -> str:
        app = ApplicationFactory(name="Budget Buddy")
        consent = ConsentFactory(application=app, permissions=["accounts"])
        params = {
            "client_id": app.client_id, "redirect_uri": "http://tpp.example/callback", "response_type": "code",
            "scope": "accounts", "state": "st-1", "code_challenge": CHALLENGE, "code_challenge_method": "S256",
            "consent_id": str(consent.pk), **extra,
        }  # fmt: skip
        return "/oauth/authorize/?" + urlencode(params)

    return build


def test_approve_without_an_account_is_still_refused_by_the_server(client, alice, alice_accounts, screen_url):
    client.force_login(alice)
    url = screen_url()
    page = client.get(url).content.decode()
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    response = client.post("/oauth/authorize/", {**fields, "decision": "approve"})
    assert response.status_code == 400 and "Tick at least one" in response.content.decode()


def test_a_just_connected_bank_is_announced_and_connected_banks_are_marked(client, alice, alice_accounts, screen_url):
    InstitutionFactory(slug="rhein", name="Rheinische Privatbank", provider="berlin_group")
    client.force_login(alice)
    connection = alice_accounts[0].connection
    page = client.get(screen_url(connection=str(connection.public_id))).content.decode()
    notice = re.search(r'id="connected-notice"[^>]*>(.*?)</', page, re.S)
    assert notice and "Connected to Albion Bank" in notice.group(1)
    albion = re.search(r'<li[^>]*data-slug="albion"[^>]*>(.*?)</li>', page, re.S).group(1)
    rhein = re.search(r'<li[^>]*data-slug="rhein"[^>]*>(.*?)</li>', page, re.S).group(1)
    assert "Connected" in albion and "Connected" not in rhein


def test_no_connected_notice_without_a_new_connection(client, alice, alice_accounts, screen_url):
    client.force_login(alice)
    assert 'id="connected-notice"' not in client.get(screen_url()).content.decode()


def test_each_sandbox_bank_has_one_name_on_its_own_pages_and_ours(client, settings):
    from aggregator.services import institution_sync_sandbox
    from providers.sandbox.data.catalog import bank_info
    from providers.sandbox.oauth.views import BANK_TITLES

    if not settings.SANDBOX_ENABLED:
        pytest.skip("the sandbox is not mounted")
    index = client.get("/sandbox/").content.decode()
    for institution in institution_sync_sandbox():
        name = bank_info(institution.slug)["name"]  # also the name in the bank's own data (interest payer)
        assert institution.name == name
        assert BANK_TITLES[institution.slug].startswith(name + " (")
        assert name in index
