"""After a real sync on a real worker, the follow-up task enriches the connection (PostgreSQL, Redis, Celery):
the sync.completed subscriber enqueues ``insights.enrich_connection`` and the worker labels every transaction,
with the MCC albion sent on card payments."""

from __future__ import annotations

import time

import pytest

from aggregator.insights.models import RecurringStream, TransactionEnrichment
from aggregator.models import SyncRun, Transaction

from .sync_helpers import connect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_completed_sync_is_enriched_by_the_worker(sandbox, celery_worker):
    connection = connect("albion", "alice", sync=True)
    deadline = time.monotonic() + 90
    enriched = 0
    while time.monotonic() < deadline:
        run = SyncRun.objects.filter(connection=connection).first()
        total = Transaction.objects.filter(account__connection=connection, removed_at__isnull=True).count()
        enriched = TransactionEnrichment.objects.filter(transaction__account__connection=connection).count()
        if run and run.outcome == SyncRun.Outcome.SUCCEEDED and total and enriched >= total:
            break
        time.sleep(0.5)
    assert run is not None and run.outcome == SyncRun.Outcome.SUCCEEDED
    assert enriched == total > 0
    cards = Transaction.objects.filter(account__connection=connection, bank_transaction_code="PMNT-CCRD-POSD")
    assert cards.exclude(merchant_category_code="").exists()
    assert RecurringStream.objects.filter(account__connection=connection, category_detailed="income.wages").exists()
