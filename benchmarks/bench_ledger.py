"""Ledger benchmark (issue 14), on PostgreSQL, in a dedicated database (``<name>_bench_ledger``, created and
dropped here, never the dev database).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/agg python -m benchmarks ledger [--events=20000]
        [--no-append] [--no-proofs]

1. Append throughput: ``--events`` outbox rows appended by the real sequencer (``ledger_append_pending``, batches of
   ``APPEND_BATCH``: advisory lock, outbox read, salts, RFC 8785 leaves, leaf and subtree hashes, INSERT of the
   leaves, DELETE of the outbox rows, checkpoints every 256 leaves) against bare INSERTs of the very same leaf rows
   (already built) into the same table, same batch size, one transaction per batch. Target ratio ≥ 0.5.
2. Proof latency at 10^6 leaves: a 10^6-leaf tree written with COPY (leaf and subtree hashes computed in Python
   exactly as the sequencer stores them), then inclusion and consistency proofs at random points — the selector
   (one indexed query + hashing) and the whole HTTP view through Django's test client. Target ≤ 5 ms.

The machine's load average is printed with the figures: on a shared machine they are only comparable within a run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import statistics
import sys
import time
import uuid

MILLION = 1_000_000


def _fail(message: str) -> None:
    print(f"bench_ledger: {message}", file=sys.stderr)
    raise SystemExit(2)


@contextlib.contextmanager
def _bench_database():  # type: ignore[no-untyped-def]
    import psycopg
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    default = settings.DATABASES["default"]
    original = default["NAME"]
    name = f"{original}_bench_ledger"

    def admin():  # type: ignore[no-untyped-def]
        return psycopg.connect(
            dbname="postgres",
            user=default.get("USER") or None,
            password=default.get("PASSWORD") or None,
            host=default.get("HOST") or None,
            port=default.get("PORT") or None,
            autocommit=True,
        )

    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    connections["default"].close()
    default["NAME"] = connections["default"].settings_dict["NAME"] = name
    try:
        call_command("migrate", verbosity=0)
        yield name
    finally:
        connections["default"].close()
        default["NAME"] = connections["default"].settings_dict["NAME"] = original
        with admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _outbox(n: int) -> None:
    from django.utils import timezone

    from aggregator.ledger.models import LedgerOutbox

    now = timezone.now()
    LedgerOutbox.objects.bulk_create(
        [
            LedgerOutbox(
                event_id=uuid.uuid4(),
                name="data.accessed",
                subject_type="consent",
                subject_id=str(uuid.uuid4()),
                data={"client_id": "bench", "requests": i % 50, "endpoints": [{"method": "GET", "count": 1}]},
                occurred_at=now,
            )
            for i in range(n)
        ],
        batch_size=5000,
    )


def _append(n: int) -> tuple[float, list]:
    from aggregator.ledger.models import LedgerLeaf
    from aggregator.ledger.services import ledger_append_pending

    _outbox(n)
    started = time.perf_counter()
    while ledger_append_pending():
        pass
    seconds = time.perf_counter() - started
    return seconds, list(LedgerLeaf.objects.order_by("index"))


def _bare(rows: list, batch: int) -> float:
    from django.db import connection, transaction

    from aggregator.ledger.models import LedgerCheckpoint, LedgerLeaf

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {LedgerLeaf._meta.db_table}, {LedgerCheckpoint._meta.db_table}")
        cursor.execute("VACUUM ANALYZE")
    for row in rows:
        row._state.adding = True
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        with transaction.atomic():
            LedgerLeaf.objects.bulk_create(rows[i : i + batch])
    return time.perf_counter() - started


def _build_million() -> float:
    from django.db import connection

    from aggregator.ledger import merkle
    from aggregator.ledger.models import LedgerCheckpoint, LedgerLeaf
    from aggregator.ledger.services import ledger_checkpoint_create

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {LedgerLeaf._meta.db_table}, {LedgerCheckpoint._meta.db_table}")
    now = dt.datetime.now(dt.UTC)
    frontier: list[bytes] = []
    columns = "index, event_id, name, subject_type, subject_id, leaf, leaf_hash, subtrees, appended_at"
    with connection.cursor() as cursor, cursor.copy(f"COPY {LedgerLeaf._meta.db_table} ({columns}) FROM STDIN") as copy:
        for i in range(MILLION):
            leaf = b'{"bench":%d}' % i
            hashed = merkle.leaf_hash(leaf)
            tz = ((i + 1) & -(i + 1)).bit_length() - 1
            done = merkle.completed_subtrees(i, hashed, frontier[len(frontier) - tz :][::-1])
            del frontier[len(frontier) - tz :]
            frontier.append(done[-1] if done else hashed)
            copy.write_row((i, uuid.uuid4(), "bench", "bench", str(i), leaf, hashed, b"".join(done), now))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {LedgerLeaf._meta.db_table}")
    ledger_checkpoint_create(size=MILLION)
    return time.perf_counter() - started


def _latency(fn, samples: int) -> tuple[float, float, float, float]:  # type: ignore[no-untyped-def]
    """Wall-clock median, p95, max, and the median CPU time of this process (ms): on a loaded machine the wall
    clock is mostly waiting for a CPU, the CPU time is the work."""
    times, cpu = [], []
    for _ in range(samples):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95)], times[-1], statistics.median(cpu)


def _server_time(index: int) -> tuple[int, float]:
    """Rows read by the one query of an inclusion proof at 10^6 leaves, and PostgreSQL's median execution time."""
    from django.db import connection

    from aggregator.ledger import merkle
    from aggregator.ledger.models import LedgerLeaf

    keys: list = []
    merkle.inclusion_proof(index, MILLION, lambda ks: (keys.extend(ks), dict.fromkeys(ks, bytes(32)))[1])
    rows = sorted({((i + 1) << level) - 1 for level, i in keys})
    sql = f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT index, leaf_hash, subtrees FROM {LedgerLeaf._meta.db_table}"
    times = []
    with connection.cursor() as cursor:
        for _ in range(50):
            cursor.execute(sql + " WHERE index = ANY(%s)", [rows])
            times.append(cursor.fetchone()[0][0]["Execution Time"])
    return len(rows), statistics.median(times)


def run(argv: list[str]) -> None:
    from django.conf import settings
    from django.db import connection as db

    if db.vendor != "postgresql":
        _fail("needs PostgreSQL: set DATABASE_URL=postgres://user@host:5432/name")
    events = 20_000
    for arg in argv:
        if arg.startswith("--events="):
            events = int(arg.split("=", 1)[1])
    settings.LEDGER = {**getattr(settings, "LEDGER", {}), "ORIGIN": "bench.example/ledger"}
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "ledger": None},
    }
    from aggregator.ledger.conf import ledger_settings

    batch = int(ledger_settings.APPEND_BATCH)
    with _bench_database() as name:
        print(f"database {name}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        if "--no-append" not in argv:
            _append_section(events, batch)
        if "--no-proofs" not in argv:
            _proofs_section()
        print(f"load average at the end {os.getloadavg()[0]:.1f}")


def _append_section(events: int, batch: int) -> None:
    _outbox(2000)  # warm-up: caches, prepared plans, table files
    from aggregator.ledger.services import ledger_append_pending

    while ledger_append_pending():
        pass
    append_seconds, rows = _append(events)
    appended = len(rows) - 2000
    rows = rows[2000:]
    bare_seconds = _bare(rows, batch)
    append_rate, bare_rate = appended / append_seconds, len(rows) / bare_seconds
    print(f"\n1. append {appended:,} events (batches of {batch}, one transaction each)")
    print(f"   sequencer: {append_seconds:.2f}s = {append_rate:,.0f} leaves/s")
    print(f"   bare INSERTs of the same rows: {bare_seconds:.2f}s = {bare_rate:,.0f} rows/s")
    print(f"   ratio {append_rate / bare_rate:.2f} (target >= 0.5)")


def _proofs_section() -> None:
    from aggregator.ledger.tree import tree_consistency_proof, tree_inclusion_proof

    print(f"\n2. proofs in a tree of {MILLION:,} leaves")
    print(f"   built with COPY in {_build_million():.1f}s")
    rng = random.Random(14)
    for label, fn in [
        ("inclusion (selector)", lambda: tree_inclusion_proof(rng.randrange(MILLION), MILLION)),
        (
            "consistency (selector)",
            lambda: tree_consistency_proof(rng.randrange(1, MILLION), MILLION),
        ),
    ]:
        median, p95, worst, cpu = _latency(fn, 2000)
        print(
            f"   {label}: median {median:.2f} ms, p95 {p95:.2f} ms, max {worst:.2f} ms (target <= 5 ms);"
            f" CPU of this process {cpu:.2f} ms"
        )
    rows, server = _server_time(123_457)
    print(f"   the query of an inclusion proof: {rows} rows, PostgreSQL execution {server:.3f} ms (median)")
    from django.test import Client

    client = Client()
    for label, url in [
        ("inclusion (HTTP view)", lambda: f"/ledger/proof/inclusion?leaf_index={rng.randrange(MILLION)}"),
        (
            "consistency (HTTP view)",
            lambda: f"/ledger/proof/consistency?first={rng.randrange(1, MILLION)}&second={MILLION}",
        ),
    ]:

        def call(url=url):  # type: ignore[no-untyped-def]
            response = client.get(url())
            assert response.status_code == 200, response.content

        median, p95, worst, cpu = _latency(call, 1000)
        print(f"   {label}: median {median:.2f} ms, p95 {p95:.2f} ms, max {worst:.2f} ms; CPU {cpu:.2f} ms")
