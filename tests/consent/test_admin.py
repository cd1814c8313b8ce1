"""Staff admin pages for consents and third-party apps: read-only pages read as such, in plain words."""

from __future__ import annotations

import pytest

from consent.models import Application
from consent.services import consent_authorise
from tests.factories import ConsentFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):  # type: ignore[no-untyped-def]
    client.force_login(UserFactory(username="staff", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def authorised(alice, alice_accounts):  # type: ignore[no-untyped-def]
    consent = ConsentFactory(permissions=["accounts", "transactions"])
    return consent_authorise(consent=consent, user=alice, accounts=alice_accounts[:1])


def test_the_read_only_consent_page_has_no_save_buttons(staff_client, authorised):
    page = staff_client.get(f"/admin/consent/consent/{authorised.pk}/change/").content.decode()
    assert 'name="_save"' not in page and 'name="_continue"' not in page and 'name="_addanother"' not in page


def test_the_consent_page_lists_permissions_in_plain_words_not_as_json(staff_client, authorised):
    page = staff_client.get(f"/admin/consent/consent/{authorised.pk}/change/").content.decode()
    assert "Accounts, Transactions" in page
    assert "&quot;accounts&quot;" not in page and '"accounts"' not in page


def test_the_consent_list_shows_a_short_id_with_the_full_one_on_hover(staff_client, authorised):
    page = staff_client.get("/admin/consent/consent/").content.decode()
    assert f'title="{authorised.pk}"' in page and f">{str(authorised.pk)[:8]}…<" in page


def test_the_tpp_list_offers_only_the_grant_types_a_tpp_can_use(staff_client):
    Application.objects.create(name="App", client_type="confidential", authorization_grant_type="authorization-code")
    page = staff_client.get("/admin/consent/application/").content.decode()
    assert "Authorization code" in page and "Client credentials" in page
    for irrelevant in ("Implicit", "Resource owner password-based", "Device Code", "OpenID connect hybrid"):
        assert irrelevant not in page, irrelevant
    assert "skip_authorization" not in page and "registration_source" not in page


def test_the_tpp_grant_type_filter_filters(staff_client):
    Application.objects.create(name="Coded", client_type="confidential", authorization_grant_type="authorization-code")
    Application.objects.create(
        name="Machine", client_type="confidential", authorization_grant_type="client-credentials"
    )
    page = staff_client.get("/admin/consent/application/?grant_type=client-credentials").content.decode()
    assert "Machine" in page and "Coded" not in page


def test_the_tpp_form_offers_only_usable_grant_types(staff_client):
    page = staff_client.get("/admin/consent/application/add/").content.decode()
    assert 'value="authorization-code"' in page and 'value="client-credentials"' in page
    assert 'value="implicit"' not in page and 'value="password"' not in page


def test_an_apps_admin_page_never_shows_its_client_secret_hash(admin_client):
    from consent.tpp import tpp_create

    registered = tpp_create(name="Hashy", redirect_uris=["https://tpp.example/cb"])
    stored = registered.application.client_secret
    assert stored.startswith("pbkdf2_") or "$" in stored  # only a hash is stored
    page = admin_client.get(f"/admin/consent/application/{registered.application.pk}/change/")
    assert page.status_code == 200
    assert stored not in page.content.decode() and 'name="client_secret"' not in page.content.decode()
