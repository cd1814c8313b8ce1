"""Login (rate-limited), the user's consent dashboard, and the admin consent review."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from consent.models import AccessLogEntry, Consent
from consent.services import consent_authorise
from tests.factories import ConsentFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def authorised(alice, alice_accounts):  # type: ignore[no-untyped-def]
    return consent_authorise(consent=ConsentFactory(), user=alice, accounts=alice_accounts[:1])


def test_login_page_is_not_frameable_and_lists_demo_users_locally(client, settings):
    settings.DJANGO_ENV = "local"
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert "alice-demo" in response.content.decode()
    settings.DJANGO_ENV = "test"
    assert "alice-demo" not in client.get("/accounts/login/").content.decode()


def test_login_is_rate_limited_per_ip_and_username(client, alice):
    for _ in range(5):
        assert client.post("/accounts/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    locked = client.post("/accounts/login/", {"username": "alice", "password": "alice-demo"})
    assert locked.status_code == 429 and "Retry-After" in locked
    # Another username from the same address is not locked by alice's failures.
    UserFactory(username="bob").set_password("bob-demo")
    assert client.post("/accounts/login/", {"username": "bob", "password": "wrong"}).status_code == 200


def test_successful_login_redirects_to_next(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-demo", "next": "/me/consents/"})
    assert response.status_code == 302 and response["Location"] == "/me/consents/"


def test_dashboard_needs_login(client):
    response = client.get("/me/consents/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_dashboard_lists_consents_accounts_access_and_banks(client, alice, authorised, alice_accounts):
    AccessLogEntry.objects.create(
        consent=authorised, application=authorised.application, at=timezone.now(), method="GET",
        endpoint="/api/v1/accounts", status_code=200,
    )  # fmt: skip
    conn = alice_accounts[0].connection
    conn.status = "reauth_required"
    conn.save()
    client.force_login(alice)
    page = client.get("/me/consents/").content.decode()
    assert authorised.application.name in page and "Everyday" in page and "Authorised" in page
    assert "List your accounts" in page and "/api/v1/accounts" not in page
    assert f"/me/consents/{authorised.pk}/revoke/" in page
    assert "/connect/albion/start/" in page and "Reconnect" in page


def test_user_revokes_with_confirmation(client, alice, authorised):
    client.force_login(alice)
    confirm = client.get(f"/me/consents/{authorised.pk}/revoke/")
    assert confirm.status_code == 200 and "Revoke access" in confirm.content.decode()
    authorised.refresh_from_db()
    assert authorised.status == "authorised"  # GET alone changes nothing
    response = client.post(f"/me/consents/{authorised.pk}/revoke/", {"reason": "not using it"})
    assert response.status_code == 302
    authorised.refresh_from_db()
    event = authorised.events.last()
    assert authorised.status == "revoked" and (event.actor_type, event.actor_user, event.reason) == (
        "user", alice, "not using it",
    )  # fmt: skip


def test_user_cannot_revoke_someone_elses_consent(client, authorised):
    bob = UserFactory(username="bob")
    client.force_login(bob)
    assert client.post(f"/me/consents/{authorised.pk}/revoke/").status_code == 404
    authorised.refresh_from_db()
    assert authorised.status == "authorised"


@pytest.fixture
def staff_client(client):  # type: ignore[no-untyped-def]
    admin = UserFactory(username="staff", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def test_admin_review_lists_filters_and_searches(staff_client, authorised):
    soon = ConsentFactory(status="awaiting_authorisation")
    page = staff_client.get("/admin/consent/consent/?expiring=7d").content.decode()
    assert str(soon.pk) not in page
    Consent.objects.filter(pk=authorised.pk).update(expires_at=timezone.now() + dt.timedelta(days=3))
    page = staff_client.get("/admin/consent/consent/?expiring=7d").content.decode()
    assert str(authorised.pk) in page
    assert str(authorised.pk) in staff_client.get(f"/admin/consent/consent/?q={authorised.pk}").content.decode()
    assert str(authorised.pk) in staff_client.get("/admin/consent/consent/?q=alice").content.decode()
    detail = staff_client.get(f"/admin/consent/consent/{authorised.pk}/change/").content.decode()
    assert "awaiting_authorisation" in detail and 'name="status"' not in detail  # events inline, read-only


def test_admin_revoke_action_asks_for_a_reason_first(staff_client, authorised):
    url = "/admin/consent/consent/"
    ask = staff_client.post(url, {"action": "revoke_consents", "_selected_action": [str(authorised.pk)]})
    assert ask.status_code == 200 and "reason" in ask.content.decode()
    authorised.refresh_from_db()
    assert authorised.status == "authorised"
    done = staff_client.post(
        url,
        {"action": "revoke_consents", "_selected_action": [str(authorised.pk)], "confirm": "1", "reason": "fraud"},
    )
    assert done.status_code == 302
    authorised.refresh_from_db()
    event = authorised.events.last()
    assert authorised.status == "revoked" and (event.actor_type, event.reason) == ("staff", "fraud")


def test_admin_cannot_add_or_delete_consents(staff_client, authorised):
    assert staff_client.get("/admin/consent/consent/add/").status_code == 403
    assert staff_client.get(f"/admin/consent/consent/{authorised.pk}/delete/").status_code == 403


def test_application_admin_keeps_the_webhook_secret_write_only(staff_client):
    from consent.models import Application

    app = Application.objects.create(
        name="Hooked", client_type="confidential", authorization_grant_type="authorization-code",
        redirect_uris="https://tpp.example/cb", webhook_url="https://tpp.example/hook", webhook_secret="s3cret-value",
    )  # fmt: skip
    page = staff_client.get(f"/admin/consent/application/{app.pk}/change/").content.decode()
    assert "s3cret-value" not in page and "new_webhook_secret" in page
