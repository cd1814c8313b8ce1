"""Disconnecting a bank: the confirmation page, the bank-side revocation, and the consents that end with it."""

from __future__ import annotations

import pytest

from aggregator.connections import disconnect as connections_disconnect
from aggregator.connections.credentials import credentials_store
from aggregator.models import Connection
from aggregator.webhooks.models import WebhookEvent
from consent.disconnect import BankRevocation, connection_dependent_consents, connection_disconnect
from consent.services import consent_authorise
from providers.base import AccessTokenExpiredError, Credentials, TransientProviderError
from tests.factories import AccountFactory, ApplicationFactory, ConnectionFactory, ConsentFactory, UserFactory

pytestmark = pytest.mark.django_db


class FakeAdapter:
    """Stands in for a bank adapter: records revocations, can refuse the access token once or fail."""

    def __init__(self, *, supports: bool = True, fail: Exception | None = None, expired_once: bool = False) -> None:
        self.supports_revoke = supports
        self.fail = fail
        self.expired_once = expired_once
        self.revoked: list[str] = []

    def revoke(self, credentials: Credentials) -> None:
        if self.fail:
            raise self.fail
        if self.expired_once and credentials.access_token == "at-old":
            raise AccessTokenExpiredError("expired")
        self.revoked.append(credentials.access_token)

    def refresh(self, credentials: Credentials) -> Credentials:
        return Credentials(access_token="at-new", refresh_token="rt-new")


@pytest.fixture
def bank(monkeypatch):  # type: ignore[no-untyped-def]
    adapter = FakeAdapter()
    monkeypatch.setattr(connections_disconnect, "adapter_for", lambda institution: adapter)
    return adapter


@pytest.fixture
def albion(alice_accounts):  # type: ignore[no-untyped-def]
    connection = alice_accounts[0].connection
    credentials_store(connection=connection, credentials=Credentials(access_token="at-old", refresh_token="rt-1"))
    return connection


@pytest.fixture
def consents(alice, alice_accounts):  # type: ignore[no-untyped-def]
    """One consent over albion's accounts (an app with a webhook), one over another bank's account only."""
    other_bank = ConnectionFactory(user=alice)
    elsewhere = AccountFactory(connection=other_bank, display_name="Elsewhere")
    hooked = ApplicationFactory(name="Budget Buddy", webhook_url="https://tpp.example/hook", webhook_secret="s")
    sharing = consent_authorise(consent=ConsentFactory(application=hooked), user=alice, accounts=alice_accounts)
    unrelated = consent_authorise(consent=ConsentFactory(), user=alice, accounts=[elsewhere])
    return sharing, unrelated


def test_only_consents_sharing_the_connections_accounts_depend_on_it(albion, consents):
    sharing, _unrelated = consents
    assert list(connection_dependent_consents(connection=albion)) == [sharing]


def test_disconnecting_revokes_at_the_bank_ends_dependent_consents_and_the_connection(
    alice, albion, consents, bank, django_capture_on_commit_callbacks
):
    sharing, unrelated = consents
    with django_capture_on_commit_callbacks(execute=True):
        result = connection_disconnect(connection=albion, user=alice)

    assert result.bank == BankRevocation.REVOKED and bank.revoked == ["at-old"]
    assert [c.pk for c in result.revoked_consents] == [sharing.pk]
    sharing.refresh_from_db()
    unrelated.refresh_from_db()
    assert sharing.status == "revoked" and unrelated.status == "authorised"
    event = sharing.events.last()
    assert (event.actor_type, event.actor_user, event.to_status) == ("user", alice, "revoked")
    assert "Albion Bank" in event.reason
    # the TPP hears about it through the usual consent webhook
    assert WebhookEvent.objects.filter(application=sharing.application, type="consent.revoked").count() == 1
    albion.refresh_from_db()
    assert albion.status == Connection.Status.DISCONNECTED
    assert albion.encrypted_credentials == "" and albion.next_sync_at is None


def test_a_refused_access_token_is_refreshed_once_before_revoking(alice, albion, consents, bank):
    bank.expired_once = True
    assert connection_disconnect(connection=albion, user=alice).bank == BankRevocation.REVOKED
    assert bank.revoked == ["at-new"]


def test_a_dialect_without_revocation_still_disconnects_and_says_so(alice, albion, consents, bank):
    bank.supports_revoke = False
    result = connection_disconnect(connection=albion, user=alice)
    assert result.bank == BankRevocation.NOT_SUPPORTED and bank.revoked == []
    albion.refresh_from_db()
    assert albion.status == Connection.Status.DISCONNECTED and len(result.revoked_consents) == 1


def test_a_bank_that_fails_does_not_stop_the_disconnection(alice, albion, consents, bank):
    bank.fail = TransientProviderError("503 from the bank")
    result = connection_disconnect(connection=albion, user=alice)
    assert (result.bank, result.bank_error) == (BankRevocation.FAILED, "transient")
    albion.refresh_from_db()
    consents[0].refresh_from_db()
    assert albion.status == Connection.Status.DISCONNECTED and consents[0].status == "revoked"


def test_a_user_cannot_disconnect_someone_elses_connection(albion, bank):
    with pytest.raises(ValueError):
        connection_disconnect(connection=albion, user=UserFactory(username="mallory"))
    albion.refresh_from_db()
    assert albion.status == Connection.Status.ACTIVE and bank.revoked == []


# --- pages ------------------------------------------------------------------------------------------------
def test_the_confirmation_page_lists_the_consents_that_will_end_and_changes_nothing(client, alice, albion, consents):
    sharing, unrelated = consents
    client.force_login(alice)
    dashboard = client.get("/me/consents/").content.decode()
    url = f"/me/connections/{albion.public_id}/disconnect/"
    assert url in dashboard and "Disconnect" in dashboard
    page = client.get(url).content.decode()
    listed = page.split('id="dependent-consents"')[1].split("</ul>")[0]
    assert "Budget Buddy" in listed and "Everyday" in listed and unrelated.application.name not in listed
    albion.refresh_from_db()
    sharing.refresh_from_db()
    assert albion.status == "active" and sharing.status == "authorised"


def test_confirming_disconnects_and_reports_what_happened_at_the_bank(client, alice, albion, consents, bank):
    client.force_login(alice)
    response = client.post(f"/me/connections/{albion.public_id}/disconnect/", follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/me/consents/"
    assert "Albion Bank is disconnected. 1 consent that shared its accounts ended." in page
    assert "Albion Bank was told to end our access too." in page
    assert f"/me/connections/{albion.public_id}/disconnect/" not in page  # no longer listed


def test_the_disconnect_page_is_only_for_the_owner(client, albion, bank):
    client.force_login(UserFactory(username="mallory"))
    assert client.get(f"/me/connections/{albion.public_id}/disconnect/").status_code == 404
    assert client.post(f"/me/connections/{albion.public_id}/disconnect/").status_code == 404
    albion.refresh_from_db()
    assert albion.status == "active" and bank.revoked == []
