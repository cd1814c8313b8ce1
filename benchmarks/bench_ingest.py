"""Ingest benchmark of the sync engine, on PostgreSQL, with the sandbox ``bulk`` user (≥100k transactions).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/agg python -m benchmarks ingest [--bank=albion] [--no-e2e]
        [--synchronous-commit]

Runs in a dedicated database (``<name>_bench_ingest``, created and dropped here), never the dev database.

1. Ingest rate: the bulk user's transactions as normalized ``TransactionData`` pages (already fetched) upserted
   page by page exactly as a sync does (one transaction per page, staging COPY + ON CONFLICT merge, pending
   links, counters), against a raw ``COPY`` of the same rows in one transaction into a table of the same shape
   (``LIKE aggregator_transaction INCLUDING ALL`` plus its foreign key: same columns, constraints and indexes),
   same binary format and JSON serializer, in the same run. Target ratio ≥ 0.5.
2. Re-sync of unchanged data: the same pages again — rows written (target 0, checked: row count, keys and the
   latest ``updated_at`` unchanged; WAL written) and time relative to (1).
3. End to end: gunicorn (2 workers) serves the sandbox on a free port; ``sandbox_connect`` + ``connection_sync``
   of ``bulk`` over HTTP; total time, transactions/s, and the share of time spent waiting for the bank
   (adapter calls: network + sandbox rendering + parsing) vs our code (normalized upserts, reconciliation).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = 1000


def _fail(message: str) -> None:
    print(f"bench_ingest: {message}", file=sys.stderr)
    raise SystemExit(2)


def _admin_connect(settings_dict: dict):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(
        dbname="postgres",
        user=settings_dict.get("USER") or None,
        password=settings_dict.get("PASSWORD") or None,
        host=settings_dict.get("HOST") or None,
        port=settings_dict.get("PORT") or None,
        autocommit=True,
    )


@contextlib.contextmanager
def _bench_database():  # type: ignore[no-untyped-def]
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    default = settings.DATABASES["default"]
    original = default["NAME"]
    name = f"{original}_bench_ingest"
    with _admin_connect(default) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    connections["default"].close()
    default["NAME"] = name
    connections["default"].settings_dict["NAME"] = name
    try:
        call_command("migrate", verbosity=0)
        yield name
    finally:
        connections["default"].close()
        default["NAME"] = original
        connections["default"].settings_dict["NAME"] = original
        with _admin_connect(default) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _bulk_pages(bank: str) -> tuple[list, list[list]]:
    """The bulk user's accounts and, per account, its transactions as normalized pages."""
    from providers.base import AccountData, TransactionData
    from providers.sandbox import bankdata

    accounts, pages = [], []
    for acc in bankdata.user_accounts(bank, "bulk"):
        accounts.append(
            AccountData(provider_account_id=acc.id, display_name=acc.name, type=acc.type, currency=acc.currency)
        )
        rows = [
            TransactionData(
                provider_transaction_id=t.id,
                provider_account_id=t.account_id,
                status=t.status,
                booking_date=t.booking_date,
                booked_at=t.booked_at,
                value_date=t.value_date,
                amount=t.amount,
                currency=t.currency,
                description=t.description,
                merchant_name=t.merchant_name,
                category=t.category,
                counterparty_name=t.counterparty_name,
                bank_transaction_code=t.bank_transaction_code,
                pending_transaction_id=t.pending_transaction_id,
                raw={"id": t.id, "amount": str(t.amount), "text": t.description},
            )
            for t in bankdata.account_transactions(bank, "bulk", acc.id)
        ]
        pages.append([rows[i : i + PAGE] for i in range(0, len(rows), PAGE)])
    return accounts, pages


def _ingest(connection, accounts, pages) -> tuple[float, int, int]:  # type: ignore[no-untyped-def]
    """Upsert every page as a sync does; (seconds, rows served, rows written)."""
    from aggregator.models import SyncRun
    from aggregator.sync.accounts import accounts_upsert
    from aggregator.sync.pull import store_page as _store_page

    stored = {a.provider_account_id: a for a in accounts_upsert(connection=connection, accounts=accounts)}
    run = SyncRun.objects.create(connection=connection)
    served = written = 0
    started = time.perf_counter()
    for data, account_pages in zip(accounts, pages, strict=True):
        account = stored[data.provider_account_id]
        for page in account_pages:
            result = _store_page(sync_run=run, rows=[(account.pk, t) for t in page], account_ids=[account.pk])
            served += len(page)
            written += result.written
    return time.perf_counter() - started, served, written


def _copy_baseline(connection, accounts, pages) -> float:  # type: ignore[no-untyped-def]
    """COPY the same rows into a same-shaped table in one transaction; seconds.

    A fair baseline, as cheap as a raw load of these rows can be: ``LIKE … INCLUDING ALL`` (columns, defaults,
    CHECKs, unique constraints, indexes) plus the foreign key (LIKE never copies those, and the real table checks
    one per row); the same columns and values, raw JSON included, serialized by the same function and sent in the
    same binary COPY format; ``public_id`` generated by the server, as the upsert does."""
    import psycopg
    from django.db import connection as db
    from django.db import transaction
    from django.utils import timezone
    from psycopg.types.json import set_json_dumps

    from aggregator.models import Account, Transaction
    from aggregator.sync.upsert import postgresql

    table = Transaction._meta.db_table
    ids = dict(Account.objects.filter(connection=connection).values_list("provider_account_id", "pk"))
    columns = [*postgresql.COPY_COLUMNS, "removed_at", "created_at", "updated_at"]
    types = [*postgresql.statements().copy_types, "timestamptz", "timestamptz", "timestamptz"]
    with db.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy_transaction")
        cursor.execute(f"CREATE TABLE bench_copy_transaction (LIKE {table} INCLUDING ALL)")
        cursor.execute("ALTER TABLE bench_copy_transaction ALTER public_id SET DEFAULT gen_random_uuid()")
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            [table],
        )
        for (definition,) in cursor.fetchall():
            cursor.execute(f"ALTER TABLE bench_copy_transaction ADD {definition}")
    now = timezone.now()
    started = time.perf_counter()
    with transaction.atomic(), psycopg.Cursor(db.connection) as cursor:
        set_json_dumps(postgresql.raw_json_bytes, context=cursor)
        with cursor.copy(f"COPY bench_copy_transaction ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for data, account_pages in zip(accounts, pages, strict=True):
                account_id = ids[data.provider_account_id]
                for page in account_pages:
                    for t in page:
                        copy.write_row((account_id, *postgresql.copy_values(t), t.raw or {}, None, now, now))
    elapsed = time.perf_counter() - started
    with db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_copy_transaction")
        (copied,) = cursor.fetchone()
        cursor.execute("DROP TABLE bench_copy_transaction")
    if copied != sum(len(p) for account_pages in pages for p in account_pages):
        _fail(f"the COPY baseline stored {copied} rows")
    return elapsed


def _table_state(connection) -> tuple[int, int, object]:  # type: ignore[no-untyped-def]
    """(rows, distinct keys, latest updated_at) of the connection's transactions."""
    from django.db.models import Count, Max

    from aggregator.models import Transaction

    qs = Transaction.objects.filter(account__connection=connection)
    keys = qs.values("account_id", "provider_transaction_id").distinct().count()
    agg = qs.aggregate(rows=Count("id"), latest=Max("updated_at"))
    return agg["rows"], keys, agg["latest"]


def _checkpoint() -> None:
    """Start a measured phase with no dirty buffers left by the previous one (superuser or pg_checkpoint)."""
    from django.db import DatabaseError
    from django.db import connection as db

    try:
        with db.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError as exc:
        print(f"  (no CHECKPOINT between phases: {exc}; figures are noisier)")


def _wal_lsn() -> int:
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
        return int(cursor.fetchone()[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _gunicorn(database_name: str):  # type: ignore[no-untyped-def]
    import httpx
    from django.conf import settings

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    d = settings.DATABASES["default"]
    auth = (d.get("USER") or "") + (f":{d['PASSWORD']}" if d.get("PASSWORD") else "")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{auth}@{d.get('HOST') or '127.0.0.1'}:{d.get('PORT') or 5432}/{database_name}",
        "PUBLIC_BASE_URL": base,
        "SANDBOX_BASE_URL": base + "/sandbox",
        "LOG_LEVEL": "WARNING",
    }
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    process = subprocess.Popen(
        [
            gunicorn,
            "aggregator.config.wsgi",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


class _TimedAdapter:
    """Wraps an adapter and adds up the wall time spent inside its calls (waiting for the bank + parsing)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self._inner = inner
        self.seconds = 0.0

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        attr = getattr(self._inner, name)
        if name not in {"list_accounts", "get_balances", "iter_transactions", "refresh"}:
            return attr
        if name == "iter_transactions":

            def generator(*args, **kwargs):  # type: ignore[no-untyped-def]
                iterator = attr(*args, **kwargs)
                while True:
                    started = time.perf_counter()
                    try:
                        page = next(iterator)
                    except StopIteration:
                        self.seconds += time.perf_counter() - started
                        return
                    self.seconds += time.perf_counter() - started
                    yield page

            return generator

        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return call


def _end_to_end(database_name: str, bank: str) -> None:
    from unittest import mock

    from django.conf import settings

    from aggregator.management.commands.sandbox_connect import sandbox_connect
    from aggregator.models import Transaction
    from aggregator.services import institution_sync_sandbox
    from aggregator.sync import engine
    from aggregator.sync.services import connection_sync
    from providers.sandbox.oauth.clients import client_sync_demo

    with _gunicorn(database_name) as base:
        settings.SANDBOX_BASE_URL = base + "/sandbox"
        settings.PUBLIC_BASE_URL = base
        institution_sync_sandbox()
        client_sync_demo()
        connection = sandbox_connect(username="bulk", bank=bank, sync=False)
        timed: list[_TimedAdapter] = []
        real = engine._adapter_for

        def adapter_for(*args, **kwargs):  # type: ignore[no-untyped-def]
            timed.append(_TimedAdapter(real(*args, **kwargs)))
            return timed[-1]

        with mock.patch.object(engine, "_adapter_for", adapter_for):
            started = time.perf_counter()
            run = connection_sync(connection=connection)
            total = time.perf_counter() - started
        count = Transaction.objects.filter(account__connection=connection).count()
        network = sum(t.seconds for t in timed)
        print(f"  outcome {run.outcome} {run.error_code} {run.error_detail[:200]}")
        print(f"  {count:,} transactions ({run.accounts_count} accounts) in {total:.1f}s = {count / total:,.0f} txn/s")
        print(
            f"  time waiting for the bank (HTTP + sandbox + adapter parsing): {network:.1f}s ({network / total:.0%}); "
            f"our code (upserts, reconciliation, bookkeeping): {total - network:.1f}s ({(total - network) / total:.0%})"
        )
        with mock.patch.object(engine, "_adapter_for", adapter_for):
            started = time.perf_counter()
            again = connection_sync(connection=connection)
            second = time.perf_counter() - started
        print(
            f"  second sync over HTTP: {second:.1f}s, rows written {again.added_count + again.modified_count}, "
            f"removed {again.removed_count}"
        )


def run(argv: list[str]) -> None:
    from django.db import connection as db

    if db.vendor != "postgresql":
        _fail(
            "needs PostgreSQL: set DATABASE_URL=postgres://user@host:5432/name (a *_bench_ingest database is "
            "created next to it and dropped afterwards)"
        )
    from django.conf import settings

    bank = "albion"
    for arg in argv:
        if arg.startswith("--bank="):
            bank = arg.split("=", 1)[1]
    synchronous = "--synchronous-commit" in argv
    settings.AGGREGATOR = {**settings.AGGREGATOR, "SYNC_SYNCHRONOUS_COMMIT": synchronous}
    from aggregator.conf import aggregator_settings

    aggregator_settings.reload()
    from tests.factories import ConnectionFactory, InstitutionFactory  # noqa: F401  (factory_boy is a dev dep)

    with _bench_database() as name:
        print(f"database {name}; generating the bulk user's data at {bank}…", flush=True)
        started = time.perf_counter()
        accounts, pages = _bulk_pages(bank)
        total_rows = sum(len(p) for account_pages in pages for p in account_pages)
        print(f"  {total_rows:,} transactions in {len(accounts)} accounts ({time.perf_counter() - started:.1f}s)")
        if total_rows < 100_000:
            print("  WARNING: fewer than 100k transactions")

        from aggregator.models import Institution

        institution = Institution.objects.create(slug="bench", name="Bench", country="GB", provider="obie")
        connection = ConnectionFactory(institution=institution)

        mode = "on" if synchronous else "off (the default; --synchronous-commit to compare)"
        print(f"  page transactions commit with synchronous_commit {mode}")
        _checkpoint()
        wal = _wal_lsn()
        first_seconds, served, written = _ingest(connection, accounts, pages)
        first_wal = _wal_lsn() - wal
        rows, keys, latest = _table_state(connection)
        _checkpoint()
        copy_seconds = _copy_baseline(connection, accounts, pages)
        upsert_rate, copy_rate = served / first_seconds, total_rows / copy_seconds
        print("\n1. ingest of already-fetched pages (1000 rows a page, one transaction each)")
        print(f"   upsert: {served:,} rows in {first_seconds:.2f}s = {upsert_rate:,.0f} rows/s (written {written:,})")
        print(
            f"           table holds {rows:,} rows, {keys:,} distinct keys; "
            f"WAL {first_wal / 2**20:,.0f} MiB (whole cluster)"
        )
        print(f"   COPY:   {total_rows:,} rows in {copy_seconds:.2f}s = {copy_rate:,.0f} rows/s")
        print(f"   ratio upsert/COPY = {upsert_rate / copy_rate:.2f} (target >= 0.5)")

        _checkpoint()
        wal = _wal_lsn()
        second_seconds, served2, written2 = _ingest(connection, accounts, pages)
        second_wal = _wal_lsn() - wal
        rows2, keys2, latest2 = _table_state(connection)
        print("\n2. re-sync of unchanged data")
        print(f"   rows written: {written2} (target 0) of {served2:,} served")
        print(
            f"   table unchanged: {(rows2, keys2, latest2) == (rows, keys, latest)} "
            f"(rows {rows2:,}, latest updated_at {'same' if latest2 == latest else 'MOVED'}); "
            f"WAL {second_wal / 2**10:,.0f} KiB (whole cluster: other sessions and hint bits included)"
        )
        print(f"   time: {second_seconds:.2f}s = {second_seconds / first_seconds:.2f}x the first sync")

        if "--no-e2e" not in argv:
            print(f"\n3. end-to-end sync of bulk at {bank} over HTTP (gunicorn, 2 workers)", flush=True)
            _end_to_end(name, bank)
