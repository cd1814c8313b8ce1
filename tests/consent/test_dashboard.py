"""The user's dashboard (/me/consents/): bounded pages, active apart from ended, access in words, times in UTC."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from consent.access_text import access_describe
from consent.models import AccessLogEntry
from consent.services import consent_authorise, consent_expire, consent_revoke
from tests.factories import ConsentFactory

pytestmark = pytest.mark.django_db

CARD = re.compile(r'class="card consent"')


def _authorised(alice, accounts, n=1):  # type: ignore[no-untyped-def]
    return [consent_authorise(consent=ConsentFactory(), user=alice, accounts=accounts) for _ in range(n)]


def test_32_consents_are_split_into_pages(client, alice, alice_accounts):
    consents = _authorised(alice, alice_accounts[:1], 32)
    client.force_login(alice)
    first = client.get("/me/consents/").content.decode()
    assert len(CARD.findall(first)) == 10 and "?page=2" in first and "Page 1 of 4" in first
    last = client.get("/me/consents/?page=4").content.decode()
    assert len(CARD.findall(last)) == 2
    assert str(consents[0].pk) in last  # oldest last
    seen = set()
    for n in range(1, 5):
        seen |= set(re.findall(r'id="consent-([0-9a-f-]{36})"', client.get(f"/me/consents/?page={n}").content.decode()))
    assert seen == {str(c.pk) for c in consents}


def test_ended_consents_are_kept_apart_from_active_ones(client, alice, alice_accounts):
    active, revoked, expired = _authorised(alice, alice_accounts[:1], 3)
    consent_revoke(consent=revoked, actor_type="user", actor_user=alice)
    consent_expire(consent=expired)
    client.force_login(alice)
    page = client.get("/me/consents/").content.decode()
    assert f'id="consent-{active.pk}"' in page
    assert f'id="consent-{revoked.pk}"' not in page and f'id="consent-{expired.pk}"' not in page
    assert "Ended consents (2)" in page and 'href="/me/consents/ended/"' in page
    ended = client.get("/me/consents/ended/").content.decode()
    assert f'id="consent-{revoked.pk}"' in ended and f'id="consent-{expired.pk}"' in ended
    assert f'id="consent-{active.pk}"' not in ended
    assert "Revoked" in ended and "Expired" in ended


def test_the_ended_page_is_paginated(client, alice, alice_accounts):
    for consent in _authorised(alice, alice_accounts[:1], 25):
        consent_revoke(consent=consent, actor_type="user", actor_user=alice)
    client.force_login(alice)
    first = client.get("/me/consents/ended/").content.decode()
    assert len(re.findall(r'<tr class="consent"', first)) == 20 and "?page=2" in first
    assert len(re.findall(r'<tr class="consent"', client.get("/me/consents/ended/?page=2").content.decode())) == 5


def test_the_access_log_reads_as_what_the_app_did(client, alice, alice_accounts):
    everyday = alice_accounts[0]
    (consent,) = _authorised(alice, [everyday])
    for endpoint in (f"/api/v1/accounts/{everyday.public_id}/transactions", "/api/v1/accounts", "/api/v1/accounts"):
        AccessLogEntry.objects.create(
            consent=consent, application=consent.application, at=timezone.now(), method="GET", endpoint=endpoint,
            status_code=200,
        )  # fmt: skip
    client.force_login(alice)
    page = client.get("/me/consents/").content.decode()
    assert "Read your transactions of Everyday" in page
    assert re.search(r"List your accounts</td><td>2</td>", page)
    assert "/api/v1/" not in page and str(everyday.public_id) not in page


@pytest.mark.parametrize(
    ("endpoint", "text"),
    [
        ("/api/v1/accounts", "list your accounts"),
        ("/api/v1/accounts/", "list your accounts"),
        ("/api/v1/accounts/{id}", "read the details of Everyday"),
        ("/api/v1/accounts/{id}/balances", "read your balances of Everyday"),
        ("/api/v1/accounts/{id}/transactions?limit=5", "read your transactions of Everyday"),
        ("/api/v1/accounts/0000/transactions", "read your transactions of an account you no longer share"),
        ("/api/v1/transactions/sync", "read new and changed transactions of your shared accounts"),
        ("/api/v1/consents/current", "check what you have shared with it"),
        ("/api/v1/consents/{id}/refresh", "ask your banks for fresh data"),
        ("/api/v1/syncs/abc", "check on a request for fresh data"),
        ("/api/v1/unheard-of", "make another request"),
    ],
)
def test_access_describe_names_the_account_not_its_id(endpoint, text):
    assert access_describe(endpoint=endpoint.format(id="acc-1"), account_names={"acc-1": "Everyday"}) == text


def test_every_time_on_the_dashboard_says_it_is_utc(client, alice, alice_accounts):
    (consent,) = _authorised(alice, alice_accounts[:1])
    AccessLogEntry.objects.create(
        consent=consent, application=consent.application, at=timezone.now(), method="GET", endpoint="/api/v1/accounts",
        status_code=200,
    )  # fmt: skip
    connection = alice_accounts[0].connection
    connection.last_synced_at = timezone.now() - dt.timedelta(hours=1)
    connection.save()
    type(consent).objects.filter(pk=consent.pk).update(last_accessed_at=timezone.now())
    client.force_login(alice)
    page = client.get("/me/consents/").content.decode()
    times = re.findall(r"\d{1,2} [A-Z][a-z]{2} \d{4},? \d{2}:\d{2}(?: UTC)?", page)
    assert len(times) >= 5  # approved, expires, last access, access-log latest, bank last updated
    assert all(t.endswith(" UTC") for t in times), times
