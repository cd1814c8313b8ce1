"""UK: the user reconfirms a consent every 90 days (FCA SCA-RTS Art. 10A), measured on the sandbox clock.

Day 90 is refused: the rule is "at least every 90 days", so access stops once 90 days have fully passed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from rest_framework.test import APIClient

from aggregator.compliance.clock import compliance_now
from aggregator.domain_events import subscribe, unsubscribe
from consent.models import ConsentEvent
from consent.reconfirmation import consent_reconfirm
from consent.services import ConsentStateError
from tests.factories import UserFactory

from .conftest import account_at, authorised, bearer

pytestmark = pytest.mark.django_db


def _get(path: str, authorization: str):  # type: ignore[no-untyped-def]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=authorization)
    return client.get(path)


def test_authorising_a_consent_at_a_uk_bank_starts_a_90_day_reconfirmation_clock(days, user, uk_bank):
    consent = authorised(user, account_at(uk_bank, user))
    assert abs(consent.reconfirm_by - (compliance_now() + dt.timedelta(days=90))) < dt.timedelta(seconds=5)


def test_a_consent_at_an_eu_bank_has_no_reconfirmation_clock(days, user, eu_bank):
    assert authorised(user, account_at(eu_bank, user)).reconfirm_by is None


def test_on_day_89_the_api_still_answers(days, user, uk_bank):
    token = bearer(authorised(user, account_at(uk_bank, user)))
    days(89)
    assert _get("/api/v1/accounts", token).status_code == 200


def test_on_day_90_the_api_answers_403_reconfirmation_required_in_the_error_shape(days, user, uk_bank):
    token = bearer(authorised(user, account_at(uk_bank, user)))
    days(90)
    response = _get("/api/v1/accounts", token)
    assert response.status_code == 403
    body = response.json()
    assert body["errors"][0]["code"] == "reconfirmation_required"
    assert "request_id" in body


def test_on_day_91_every_data_endpoint_of_the_consent_is_refused(days, user, uk_bank):
    account = account_at(uk_bank, user)
    token = bearer(authorised(user, account))
    days(91)
    paths = ("/api/v1/accounts", f"/api/v1/accounts/{account.public_id}/balances", "/api/v1/consents/current")
    for path in paths:
        assert _get(path, token).json()["errors"][0]["code"] == "reconfirmation_required", path


def test_reconfirming_on_day_91_restores_access_at_once_for_90_days_from_then(days, user, uk_bank):
    consent = authorised(user, account_at(uk_bank, user))
    token = bearer(consent)
    days(91)
    consent_reconfirm(consent=consent, user=user)
    assert _get("/api/v1/accounts", token).status_code == 200
    consent.refresh_from_db()
    assert abs(consent.reconfirm_by - (compliance_now() + dt.timedelta(days=90))) < dt.timedelta(seconds=5)
    days(89)
    assert _get("/api/v1/accounts", token).status_code == 200
    days(1)
    assert _get("/api/v1/accounts", token).json()["errors"][0]["code"] == "reconfirmation_required"


def test_reconfirming_records_a_consent_event_and_publishes_consent_reconfirmed(days, user, uk_bank):
    consent = authorised(user, account_at(uk_bank, user))
    seen = []
    subscribe(seen.append, dispatch_uid="test-reconfirmed")
    try:
        consent_reconfirm(consent=consent, user=user)
    finally:
        unsubscribe("test-reconfirmed")
    event = ConsentEvent.objects.get(consent=consent, kind=ConsentEvent.Kind.RECONFIRMED)
    assert event.actor_type == "user" and event.actor_user == user
    assert event.from_status == event.to_status == "authorised"
    published = [e for e in seen if e.name == "consent.reconfirmed"]
    assert len(published) == 1 and published[0].event_id == event.event_id
    assert published[0].data["reconfirm_by"] == consent.reconfirm_by.isoformat()


def test_another_user_cannot_reconfirm_the_consent(days, user, uk_bank):
    consent = authorised(user, account_at(uk_bank, user))
    with pytest.raises(ConsentStateError):
        consent_reconfirm(consent=consent, user=UserFactory())


def test_a_consent_without_a_reconfirmation_clock_cannot_be_reconfirmed(days, user, eu_bank):
    consent = authorised(user, account_at(eu_bank, user))
    with pytest.raises(ConsentStateError, match="needs no reconfirmation"):
        consent_reconfirm(consent=consent, user=user)


def test_the_consent_resource_shows_reconfirm_by_and_a_null_reauthenticate_by(days, user, uk_bank):
    consent = authorised(user, account_at(uk_bank, user))
    from tests.api.factories import AccessTokenFactory

    token = AccessTokenFactory(consent=None, user=None, application=consent.application, scope="consents")
    data = _get(f"/api/v1/consents/{consent.pk}", f"Bearer {token.token}").json()["data"]
    assert data["reconfirm_by"].startswith(consent.reconfirm_by.strftime("%Y-%m-%dT%H:%M"))
    assert data["reauthenticate_by"] is None


# --- the reconfirmation page ----------------------------------------------------------------------------------
def test_the_reconfirmation_page_needs_a_signed_in_user(client):
    response = client.get("/me/consents/reconfirm/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_page_says_what_is_shared_with_whom_and_until_when(days, client, user, uk_bank):
    consent = authorised(user, account_at(uk_bank, user))
    client.force_login(user)
    page = client.get(f"/me/consents/reconfirm/?consent={consent.pk}").content.decode()
    assert consent.application.name in page
    assert "transactions" in page and "Albion Bank" in page
    assert f"reconfirm by {consent.reconfirm_by:%-d %b %Y}" in page
    assert "Until:" in page


def test_one_click_reconfirms_several_consents_at_once(days, client, user, uk_bank):
    first = authorised(user, account_at(uk_bank, user))
    second = authorised(user, account_at(uk_bank, user))
    days(91)
    client.force_login(user)
    response = client.post("/me/consents/reconfirm/", {"consent": [str(first.pk), str(second.pk)]})
    assert response.status_code == 302 and response["Location"] == "/me/consents/"
    for consent in (first, second):
        consent.refresh_from_db()
        assert consent.reconfirm_by > compliance_now() + dt.timedelta(days=89)
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.RECONFIRMED).count() == 2


def test_a_post_without_the_csrf_token_is_refused(days, user, uk_bank):
    consent = authorised(user, account_at(uk_bank, user))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/me/consents/reconfirm/", {"consent": [str(consent.pk)]})
    assert response.status_code == 403
    assert not ConsentEvent.objects.filter(kind=ConsentEvent.Kind.RECONFIRMED).exists()


def test_a_user_cannot_reconfirm_someone_elses_consent_through_the_page(days, client, user, uk_bank):
    consent = authorised(user, account_at(uk_bank, user))
    client.force_login(UserFactory())
    client.post("/me/consents/reconfirm/", {"consent": [str(consent.pk)]})
    assert not ConsentEvent.objects.filter(kind=ConsentEvent.Kind.RECONFIRMED).exists()


def test_the_dashboard_says_reconfirm_by_and_links_to_the_page(days, client, user, uk_bank):
    consent = authorised(user, account_at(uk_bank, user))
    client.force_login(user)
    page = client.get("/me/consents/").content.decode()
    assert f"Reconfirm by {consent.reconfirm_by:%-d %b %Y}" in page
    assert f"/me/consents/reconfirm/?consent={consent.pk}" in page


def test_the_dashboard_says_when_a_reconfirmation_is_overdue(days, client, user, uk_bank):
    authorised(user, account_at(uk_bank, user))
    days(90)
    client.force_login(user)
    assert "Reconfirmation overdue since" in client.get("/me/consents/").content.decode()


def test_a_consent_awaiting_reconfirmation_gets_no_transactions_updated_webhook(
    days, user, uk_bank, monkeypatch, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from aggregator.domain_events import DomainEvent, publish
    from aggregator.webhooks.models import WebhookEvent
    from tests.factories import SyncRunFactory

    monkeypatch.setattr("aggregator.webhooks.services._enqueue", lambda delivery_id: None)
    account = account_at(uk_bank, user)
    lapsed = authorised(user, account)
    days(91)
    current = authorised(user, account)
    for consent in (lapsed, current):
        consent.application.webhook_url = "https://tpp.example/hooks"
        consent.application.save()
    run = SyncRunFactory(connection=account.connection, outcome="succeeded", started_at=timezone.now(), added_count=1)
    with django_capture_on_commit_callbacks(execute=True):
        publish(DomainEvent(name="sync.completed", subject_type="sync_run", subject_id=str(run.public_id)))
    assert [e.payload["consent_id"] for e in WebhookEvent.objects.all()] == [str(current.pk)]
