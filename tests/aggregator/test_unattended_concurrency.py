"""Two workers spending the last unattended-access slot of an account at once: exactly one gets it (PostgreSQL:
the row lock of ``aggregator.sync.unattended._spend``; run with DATABASE_URL=postgres://…)."""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from django.db import connection as db
from django.db import connections

from aggregator.compliance.clock import compliance_now
from aggregator.exceptions import LimitReachedError
from aggregator.models import SyncRun, UnattendedAccess
from aggregator.sync import unattended
from tests.factories import AccountFactory, ConnectionFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(db.vendor != "postgresql", reason="row locks: PostgreSQL only (SQLite serialises writers)")
def test_two_refreshes_racing_for_the_last_slot_spend_it_exactly_once():
    connection = ConnectionFactory()  # a GB bank: 4 a day
    account = AccountFactory(connection=connection)
    now = compliance_now()
    for _ in range(3):
        UnattendedAccess.objects.create(account=account, data_type="balances", accessed_at=now)
    runs = [SyncRun.objects.create(connection=connection, trigger=SyncRun.Trigger.API) for _ in range(2)]
    for run in runs:
        run.connection = connection
    real_window = unattended._window

    def slow_window(*args, **kwargs):  # type: ignore[no-untyped-def]
        counted = real_window(*args, **kwargs)
        time.sleep(0.5)  # both have counted before either inserts, unless the lock makes the second wait
        return counted

    start = threading.Barrier(2)
    outcomes: list[str] = []

    def spend(run: SyncRun) -> None:
        try:
            start.wait()
            unattended.unattended_reserve(runs=[run], data_types=["balances"], now=now)
            outcomes.append("spent")
        except LimitReachedError:
            outcomes.append("refused")
        finally:
            connections.close_all()

    with mock.patch.object(unattended, "_window", slow_window):
        threads = [threading.Thread(target=spend, args=(run,)) for run in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(outcomes) == ["refused", "spent"]
    assert UnattendedAccess.objects.filter(account=account, data_type="balances").count() == 4
