"""The user's privacy page, the download link (signed, expiring, for its user or staff) and the access-log page."""

from __future__ import annotations

import pytest
from django.utils import timezone

from aggregator.privacy.export import data_export_build
from aggregator.privacy.links import export_download_path
from aggregator.privacy.models import DataExport
from tests.factories import AccessLogEntryFactory, UserFactory

from .people import person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AGGREGATOR = {
        **settings.AGGREGATOR,
        "PRIVACY_EXPORT_DIR": str(tmp_path),
        "PRIVACY_EXPORT_LINK_SECONDS": 3600,
    }


@pytest.fixture
def done(db):  # type: ignore[no-untyped-def]
    wilhelmina = person("Page")
    return data_export_build(export=DataExport.objects.create(user=wilhelmina.user, requested_by="user"))


def test_the_owner_downloads_the_archive_through_the_link(client, done):
    client.force_login(done.user)

    response = client.get(export_download_path(done))

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert b"".join(response.streaming_content)[:2] == b"PK"
    assert response["Cache-Control"] == "no-store"


def test_staff_may_download_anyones_archive(client, done):
    client.force_login(UserFactory(username="officer", is_staff=True))

    assert client.get(export_download_path(done)).status_code == 200


def test_another_user_gets_a_not_found_page(client, done):
    client.force_login(UserFactory(username="mallory"))

    response = client.get(export_download_path(done))

    assert response.status_code == 404 and b"not for you" in response.content


def test_a_link_older_than_its_lifetime_answers_410_with_a_clear_message(client, done, settings):
    client.force_login(done.user)
    path = export_download_path(done)
    settings.AGGREGATOR = {**settings.AGGREGATOR, "PRIVACY_EXPORT_LINK_SECONDS": -1}  # any age is too old

    response = client.get(path)

    assert response.status_code == 410 and b"This download link has expired" in response.content


def test_an_export_past_its_expiry_answers_410_even_with_a_fresh_link(client, done):
    DataExport.objects.filter(pk=done.pk).update(expires_at=timezone.now())
    client.force_login(done.user)

    response = client.get(export_download_path(done))

    assert response.status_code == 410


def test_a_tampered_link_is_refused(client, done):
    client.force_login(done.user)

    response = client.get(export_download_path(done)[:-3] + "xyz/")

    assert response.status_code == 404 and b"not valid" in response.content


def test_a_signed_out_visitor_is_sent_to_the_login_page(client, done):
    response = client.get(export_download_path(done))

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_posting_on_the_privacy_page_queues_one_export(client, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr("celery.current_app.send_task", lambda *a, **kw: None)
    wilhelmina = person("Ask")
    client.force_login(wilhelmina.user)

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/me/privacy/")
        client.post("/me/privacy/")  # a second click while the first is queued adds nothing

    assert DataExport.objects.filter(user=wilhelmina.user, status="queued").count() == 1
    assert b"Queued" in client.get("/me/privacy/").content


def test_the_privacy_page_shows_a_done_export_with_its_link(client, done):
    client.force_login(done.user)

    page = client.get("/me/privacy/").content.decode()

    assert "/me/privacy/exports/" in page and "Done" in page


def test_the_dashboard_links_to_the_privacy_and_access_log_pages(client):
    client.force_login(UserFactory(username="dash"))

    page = client.get("/me/consents/").content.decode()

    assert 'href="/me/privacy/"' in page and 'href="/me/privacy/access-log/"' in page


def test_the_dashboards_download_button_asks_for_an_export(client, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr("celery.current_app.send_task", lambda *a, **kw: None)
    user = UserFactory(username="dashbutton")
    client.force_login(user)
    page = client.get("/me/consents/").content.decode()
    assert 'action="/me/privacy/"' in page and 'id="dashboard-export"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/me/privacy/")

    assert response.status_code == 302 and DataExport.objects.filter(user=user, requested_by="user").exists()


def test_the_access_log_page_lists_the_apps_requests_in_words_50_a_page(client):
    wilhelmina = person("Log")
    for _ in range(60):
        AccessLogEntryFactory(consent=wilhelmina.consent, endpoint="/api/v1/accounts")
    client.force_login(wilhelmina.user)

    first = client.get("/me/privacy/access-log/").content.decode()
    last = client.get("/me/privacy/access-log/?page=2").content.decode()

    assert first.count('class="access"') == 50 and last.count('class="access"') == 12
    assert wilhelmina.consent.application.name in first and str(wilhelmina.consent.pk) in first
    assert "Read your transactions of" in last or "Read your transactions of" in first


def test_the_access_log_page_shows_nothing_of_other_users(client):
    wilhelmina, other = person("Own"), person("Foreign")
    client.force_login(wilhelmina.user)

    page = client.get("/me/privacy/access-log/").content.decode()

    assert str(other.consent.pk) not in page and page.count('class="access"') == 2
