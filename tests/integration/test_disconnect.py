"""Disconnecting a bank against the real sandbox banks over HTTP: each dialect's bank-side consent really ends.

Runs on SQLite too (pytest-django's live server; no broker or worker: the first sync is not queued)."""

from __future__ import annotations

import pytest

from aggregator.management.commands.sandbox_connect import sandbox_connect
from aggregator.models import Connection
from consent.disconnect import BankRevocation, connection_disconnect
from consent.services import consent_authorise
from tests.factories import ConsentFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SANDBOX_STATUS = {"albion": "Revoked", "rhein": "terminatedByTpp", "liberty": "revoked"}


@pytest.mark.parametrize("bank", ["albion", "rhein", "liberty"])
def test_disconnecting_ends_the_consent_at_the_sandbox_bank(sandbox_banks, bank):
    from providers.sandbox.models import SandboxConsent

    alice = UserFactory(username="alice")
    connection = sandbox_connect(username="alice", bank=bank, sync=False)
    consent = consent_authorise(consent=ConsentFactory(), user=alice, accounts=list(connection.accounts.all()))
    assert SandboxConsent.objects.filter(bank=bank).count() == 1

    result = connection_disconnect(connection=connection, user=alice)

    assert result.bank == BankRevocation.REVOKED, result.bank_error
    assert SandboxConsent.objects.get(bank=bank).status == SANDBOX_STATUS[bank]
    consent.refresh_from_db()
    connection.refresh_from_db()
    assert consent.status == "revoked" and connection.status == Connection.Status.DISCONNECTED
