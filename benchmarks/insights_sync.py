"""The last part of ``python -m benchmarks insights``: a first sync over HTTP, then its enrichment, in one run.

Needs PostgreSQL (a ``<name>_bench_ingest`` database is created and dropped, never the dev database). Gunicorn
serves the sandbox banks; ``sandbox_connect`` + ``connection_sync`` of a sandbox user (default ``bulk``: ≥100k
transactions) is the sync without enrichment; ``insights_refresh_accounts`` over the same accounts (what the
follow-up task ``insights.enrich_connection`` runs) is the enrichment, with the benchmark's model. Printed: both
rates and the issue's two ratios — the first sync followed by its enrichment against the sync alone (target
≤ 1.5 times) and its throughput against the sync's (target ≥ 0.5 times). The sync itself never waits for the enrichment
(a follow-up task); these figures are the cost if it had to.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

__all__ = ["sync_then_enrich"]


def sync_then_enrich(model, *, user: str = "bulk", bank: str = "albion") -> None:  # type: ignore[no-untyped-def]
    from django.conf import settings

    from aggregator.insights.conf import insights_settings
    from aggregator.insights.model import save_model
    from aggregator.insights.services import insights_refresh_accounts
    from aggregator.management.commands.sandbox_connect import sandbox_connect
    from aggregator.models import Account, Transaction
    from aggregator.services import institution_sync_sandbox
    from aggregator.sync.services import connection_sync
    from benchmarks.bench_ingest import _bench_database, _gunicorn
    from providers.sandbox.oauth.clients import client_sync_demo

    with _bench_database() as name, tempfile.TemporaryDirectory() as tmp, _gunicorn(name) as base:
        path = Path(tmp) / "model.joblib"
        save_model(model, path)
        settings.INSIGHTS = {"MODEL_PATH": str(path), "ENRICH_AFTER_SYNC": False}  # timed apart, below
        insights_settings.reload()
        settings.SANDBOX_BASE_URL = base + "/sandbox"
        settings.PUBLIC_BASE_URL = base
        institution_sync_sandbox()
        client_sync_demo()
        connection = sandbox_connect(username=user, bank=bank, sync=False)
        started = time.perf_counter()
        run = connection_sync(connection=connection)
        sync_seconds = time.perf_counter() - started
        count = Transaction.objects.filter(account__connection=connection).count()
        ids = list(Account.objects.filter(connection=connection).values_list("pk", flat=True))
        started = time.perf_counter()
        result = insights_refresh_accounts(account_ids=ids)
        enrich_seconds = time.perf_counter() - started
        total = sync_seconds + enrich_seconds
        print(f"  database {name}: sandbox user {user!r} at {bank}, {count:,} transactions in {len(ids)} accounts")
        print(f"  first sync over HTTP ({run.outcome}): {sync_seconds:.1f}s = {count / sync_seconds:,.0f} txn/s")
        print(
            f"  its enrichment + streams + signals: {enrich_seconds:.1f}s = {result.enriched / enrich_seconds:,.0f} "
            f"txn/s ({result.streams} streams, {result.signals} signals)"
        )
        print(
            f"  sync then enrichment: {total / sync_seconds:.2f}× the sync's time (target ≤ 1.5: "
            f"{'met' if total / sync_seconds <= 1.5 else 'NOT met'}); throughput {sync_seconds / total:.2f}× the "
            f"sync's (target ≥ 0.5: {'met' if sync_seconds / total >= 0.5 else 'NOT met'})"
        )
