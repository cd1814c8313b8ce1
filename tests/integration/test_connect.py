"""sandbox_connect end to end: the real sandbox banks over real HTTP (pytest-django's live server).

No PostgreSQL, broker or worker needed (the first sync is not queued), so this runs on SQLite too.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from aggregator.connections.credentials import credentials_load
from aggregator.management.commands.sandbox_connect import sandbox_connect
from aggregator.models import Connection

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("bank", ["albion", "rhein", "liberty"])
def test_sandbox_connect_gives_alice_an_encrypted_connection_with_her_accounts(sandbox_banks, bank):
    from providers.sandbox import bankdata

    connection = sandbox_connect(username="alice", bank=bank, sync=False)

    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE and connection.institution.slug == bank
    credentials = credentials_load(connection=connection)
    assert credentials.access_token and credentials.refresh_token
    assert credentials.access_token not in connection.encrypted_credentials
    if bank != "liberty":
        assert connection.upstream_consent_id == credentials.consent_id != ""
    expected = {a.id: a for a in bankdata.user_accounts(bank, "alice")}
    accounts = {a.provider_account_id: a for a in connection.accounts.all()}
    assert set(accounts) == set(expected)
    for account_id, account in accounts.items():
        assert account.currency == expected[account_id].currency
        assert account.type == expected[account_id].type
        # the best identifier the bank holds, as the consent screen shows it (••••1234)
        truth = expected[account_id]
        best = truth.iban or truth.account_number or truth.masked_pan
        assert best and account.masked_identifier.endswith("••••" + best[-4:]), (account_id, best)


def test_connecting_twice_reuses_the_connection(sandbox_banks):
    first = sandbox_connect(username="alice", bank="albion", sync=False)
    first.status = Connection.Status.REAUTH_REQUIRED
    first.save(update_fields=["status"])
    accounts = first.accounts.count()

    second = sandbox_connect(username="alice", bank="albion", sync=False)

    assert second.pk == first.pk and second.status == Connection.Status.ACTIVE
    assert second.accounts.count() == accounts


def test_the_command_prints_the_connection_id(sandbox_banks, capsys):
    call_command("sandbox_connect", "--user", "bob", "--bank", "liberty", "--no-sync")
    printed = capsys.readouterr().out.strip()
    assert Connection.objects.filter(public_id=printed, user__username="bob").exists()


def test_a_locked_user_is_refused_by_the_bank(sandbox_banks):
    with pytest.raises(CommandError, match="refused the login"):
        sandbox_connect(username="locked", bank="albion", sync=False)
    assert not Connection.objects.filter(user__username="locked").exists()


@pytest.mark.parametrize("bank", ["albion", "rhein", "liberty"])
def test_adapters_read_alice_exactly_as_the_bank_holds_her_data(sandbox_banks, bank):
    """The adapter's normalization of the live sandbox equals the sandbox's own ground truth (fields each
    dialect carries: ids, signed amounts, currencies, statuses, dates, texts, pending links)."""
    from providers.registry import adapter_for
    from providers.sandbox import bankdata

    connection = sandbox_connect(username="alice", bank=bank, sync=False)
    adapter = adapter_for(connection.institution)
    credentials = credentials_load(connection=connection)
    accounts = adapter.list_accounts(credentials)

    truth = {
        t.id: t
        for a in bankdata.user_accounts(bank, "alice")
        for t in bankdata.account_transactions(bank, "alice", a.id)
    }
    got = {}
    targets = accounts[:1] if adapter.sync_mode == "cursor" else accounts
    for account in targets:
        for page in adapter.iter_transactions(credentials, account):
            got.update({t.provider_transaction_id: t for t in page.transactions})
    assert set(got) == set(truth) and len(got) > 50

    for txn_id, txn in got.items():
        expected = truth[txn_id]
        assert (txn.amount, txn.currency, txn.status) == (expected.amount, expected.currency, expected.status)
        assert txn.provider_account_id == expected.account_id
        assert txn.category == expected.category
        if bank != "rhein" or txn.status == "booked":
            assert txn.booking_date == expected.booking_date
        if bank != "rhein":
            assert txn.booked_at == expected.booked_at
            assert txn.pending_transaction_id == expected.pending_transaction_id
            assert (txn.description, txn.merchant_name) == (expected.description, expected.merchant_name)
        else:
            assert txn.value_date == expected.value_date
            assert txn.description == expected.description[:140]

    for account in accounts:
        balances = {b.type: b.amount for b in adapter.get_balances(credentials, account)}
        expected_balances = {
            b.type: b.amount
            for b in bankdata.account_balances(bank, "alice", account.provider_account_id)
            if bank != "liberty" or b.type in {"booked", "available"}  # the US dialect has no expected balance
        }
        assert balances == expected_balances


@pytest.mark.parametrize("bank", ["albion", "rhein", "liberty"])
def test_a_bank_that_does_not_know_our_client_says_so_and_how_to_register_it(sandbox_banks, bank):
    from providers.sandbox.models import SandboxClient

    SandboxClient.objects.filter(bank=bank).delete()
    with pytest.raises(CommandError) as caught:
        sandbox_connect(username="alice", bank=bank, sync=False)
    message = str(caught.value)
    assert "invalid_client" in message and "manage.py sandbox_bootstrap" in message, message
    assert "could not be reached" not in message and "bank_unavailable" not in message
    assert not Connection.objects.filter(user__username="alice").exists()
