"""``manage.py sync``: picks the right connections, syncs them, prints a summary, fails clearly on bad input."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from aggregator.models import Connection, SyncRun
from providers.base import TransientProviderError
from tests.aggregator.sync_fakes import fake_bank, make_connection, txn  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sync", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def bank(fake_bank):  # noqa: F811
    fake_bank.add_account("acc-1")
    fake_bank.put(txn("t1"), txn("t2", day=2))
    return fake_bank


def test_sync_by_connection_id_prints_a_summary_with_counts(bank):
    connection = make_connection()

    out, err = _run("--connection", str(connection.public_id))

    assert "1 sync(s)" in out and str(connection.public_id) in out
    assert "succeeded" in out
    row = next(line for line in out.splitlines() if str(connection.public_id) in line)
    assert [cell.strip() for cell in row.split("│")[5:9]] == ["1", "2", "0", "0"]
    assert "syncing" in err  # the progress bar
    run = SyncRun.objects.get()
    assert (run.trigger, run.outcome, run.added_count) == ("manual", "succeeded", 2)


def test_sync_accepts_the_numeric_id_too(bank):
    connection = make_connection()
    _run("--connection", str(connection.pk))
    assert SyncRun.objects.get().outcome == SyncRun.Outcome.SUCCEEDED


def test_sync_by_user_syncs_each_of_their_connections(bank):
    first = make_connection()
    make_connection(user=first.user)
    make_connection()  # someone else's

    out, _ = _run("--user", first.user.username)

    assert "2 sync(s)" in out
    assert set(SyncRun.objects.values_list("connection__user", flat=True)) == {first.user.pk}


def test_sync_all_takes_active_and_erroring_connections_only(bank):
    make_connection()
    make_connection(status=Connection.Status.ERROR)
    make_connection(status=Connection.Status.REAUTH_REQUIRED)

    out, _ = _run("--all")

    assert "2 sync(s)" in out


def test_a_failed_sync_is_shown_and_makes_the_command_fail(bank):
    connection = make_connection()
    bank.errors["list_accounts"] = TransientProviderError("bank unavailable")

    out = StringIO()
    with pytest.raises(CommandError, match="1 of 1 sync"):
        call_command("sync", "--connection", str(connection.pk), stdout=out, stderr=StringIO())
    assert "failed" in out.getvalue() and "bank unavailable" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--connection", "not-a-uuid"], "must be a connection's UUID or numeric id"),
        (["--connection", "00000000-0000-0000-0000-000000000000"], "No connection with id"),
        (["--connection", "424242"], "No connection with id"),
        (["--user", "nobody"], "No user named 'nobody'"),
        (["--all"], "no active connections"),
    ],
)
def test_bad_input_gives_a_clear_error(args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)


def test_a_user_without_connections_gets_a_hint():
    from tests.factories import UserFactory

    UserFactory(username="carol")
    with pytest.raises(CommandError, match="sandbox_connect"):
        _run("--user", "carol")


def test_the_target_options_are_exclusive_and_required():
    with pytest.raises(CommandError):
        _run()
    with pytest.raises(CommandError):
        _run("--all", "--user", "x")
