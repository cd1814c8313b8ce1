"""The fleet: many connections synced against banks with a real latency, and the dispatcher's cost at scale.

    DATABASE_URL=postgres://… CELERY_BROKER_URL=redis://… python -m benchmarks fleet \
        [--connections=1000] [--latency-ms=250] [--concurrency=64] [--processes=<cores>] [--db-pool=16] \
        [--dispatch-connections=100000] [--due=500]

*fleet*: a bench database; gunicorn serving the sandbox banks with ``SANDBOX_LATENCY_MS`` (2 processes x 64
threads, access log counted); one real sandbox connection made through the bank's OAuth pages and copied to
``--connections`` users (each with a token pair of its own at the bank); ``--processes`` Celery workers (threads
pool, ``--concurrency`` threads in all, DEBUG off as in production, ``DATABASE_POOL_SIZE=--db-pool`` sessions a
process, 0 for none) on the ``sync`` queue; one dispatch tick queues them all (their first sync: the full
history), then a second tick (incremental syncs, the steady state). Each prints wall time vs the ideal (bank calls
x latency / concurrency), the CPU a sync costs the workers, the sandbox server and PostgreSQL (the local server's
process tree), the CPU floor (all of it over the cores: no schedule can beat it), bank calls/s, and the peak number
of database sessions of the workers and of the sandbox server (each process names its sessions:
``application_name``).

*dispatch*: ``--dispatch-connections`` connections of which ``--due`` are due; one dispatch tick (claim, budget,
SyncRun rows, broker messages) timed, next to the same tick with only the due ones in the table, and the
EXPLAIN of the due query.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

__all__ = ["run"]

ROOT = Path(__file__).resolve().parent.parent


def _opt(argv: list[str], name: str, default: str) -> str:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return default


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its children that were waited for (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def _tree_cpu(pid: int) -> float:
    total = 0.0
    try:
        total += _cpu_seconds(pid)
    except FileNotFoundError:
        return 0.0
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        total += _tree_cpu(int(child))
    return total


def _db_url(name: str, application: str = "") -> str:
    """The bench database's URL; ``application`` names the process's sessions in ``pg_stat_activity``."""
    from django.conf import settings

    d = settings.DATABASES["default"]
    auth = (d.get("USER") or "") + (f":{d['PASSWORD']}" if d.get("PASSWORD") else "")
    query = f"?application_name={application}" if application else ""
    return f"postgres://{auth}@{d.get('HOST') or '127.0.0.1'}:{d.get('PORT') or 5432}/{name}{query}"


def _gunicorn(database_name: str, latency_ms: int, access_log: Path, pool_size: int = 0):  # type: ignore[no-untyped-def]
    import httpx

    from benchmarks.bench_ingest import _free_port

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": _db_url(database_name, "fleet-sandbox"),
        "PUBLIC_BASE_URL": base,
        "SANDBOX_BASE_URL": base + "/sandbox",
        "SANDBOX_LATENCY_MS": str(latency_ms),
        "CONN_MAX_AGE": "0",
        "DATABASE_POOL_SIZE": str(pool_size),
        "DEBUG": "false",  # as in production: no per-query SQL log
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),  # this checkout's code, not an editable install's
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "aggregator.config.wsgi", "-w", "2", "-k", "gthread",
         "--threads", "64", "-b", f"127.0.0.1:{port}", "--timeout", "300", "--log-level", "warning",
         "--access-logfile", str(access_log)],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/livez", timeout=2).status_code < 500:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not start")
        time.sleep(0.3)
    return process, base


def _postmaster_pid() -> int | None:
    """The local PostgreSQL server's postmaster (its CPU, with its backends', is part of a sync's cost)."""
    try:
        out = subprocess.run(["pgrep", "-o", "-x", "postgres"], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return None
    return int(out.split()[0]) if out.split() else None


def _sessions(database_name: str, application: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            [database_name, application],
        )
        return int(cursor.fetchone()[0])


def clone_connections(original, count: int) -> list:  # type: ignore[no-untyped-def]
    """``count`` copies of one real connection, each owned by its own user, due now, and each with a token pair of
    its own at the bank (a copy of the original's grant): refresh tokens rotate, so clones sharing one pair would
    lose it to whichever refreshed first."""
    import dataclasses
    import secrets

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from aggregator.models import Connection
    from providers.credentials import credentials_decrypt, credentials_encrypt
    from providers.sandbox.models import SandboxToken

    User = get_user_model()
    credentials = credentials_decrypt(original.encrypted_credentials)
    grant = SandboxToken.objects.get(access_token=credentials.access_token)
    pairs = [(secrets.token_urlsafe(32), secrets.token_urlsafe(32)) for _ in range(count)]
    tokens = []
    for access, refresh in pairs:
        token = SandboxToken(**{f.attname: getattr(grant, f.attname) for f in SandboxToken._meta.concrete_fields})
        token.pk, token.access_token, token.refresh_token = None, access, refresh
        tokens.append(token)
    SandboxToken.objects.bulk_create(tokens)
    users = User.objects.bulk_create([User(username=f"fleet-{i}", password="!") for i in range(count)])
    fields = ("institution", "credentials_expire_at", "upstream_consent_id")
    return Connection.objects.bulk_create(
        [
            Connection(
                user=user,
                status=Connection.Status.ACTIVE,
                next_sync_at=timezone.now() - timedelta(minutes=1),
                upstream_consent_expires_at=original.upstream_consent_expires_at,
                encrypted_credentials=credentials_encrypt(
                    dataclasses.replace(credentials, access_token=access, refresh_token=refresh)
                ),
                **{field: getattr(original, field) for field in fields},
            )
            for user, (access, refresh) in zip(users, pairs, strict=True)
        ]
    )


def _tick(
    label: str,
    ids: list[int],
    worker_pids: list[int],
    server_pid: int,
    access_log: Path,
    database_name: str,
    latency_ms: int,
    concurrency: int,
) -> None:
    """One dispatch of every fleet connection, timed until each run finished; prints the figures."""
    from django.db.models import Count

    from aggregator.models import SyncRun
    from aggregator.sync.dispatch import connections_dispatch_due

    calls_before = len(access_log.read_text().splitlines())
    postmaster = _postmaster_pid()
    cpu_worker, cpu_server = sum(_tree_cpu(pid) for pid in worker_pids), _tree_cpu(server_pid)
    cpu_database = _tree_cpu(postmaster) if postmaster else 0.0
    peak = {"fleet-worker": 0, "fleet-sandbox": 0}
    stop = threading.Event()

    def watch() -> None:
        from django.db import connection

        while not stop.wait(0.5):
            for application in peak:
                peak[application] = max(peak[application], _sessions(database_name, application))
        connection.close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    queued = connections_dispatch_due(limit=len(ids) * 2)
    runs = SyncRun.objects.filter(pk__in=[run.pk for run in queued])
    while runs.filter(outcome__in=[SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING]).exists():
        time.sleep(0.25)
    wall = time.perf_counter() - started
    stop.set()
    watcher.join()
    cpu_worker = sum(_tree_cpu(pid) for pid in worker_pids) - cpu_worker
    cpu_server = _tree_cpu(server_pid) - cpu_server
    cpu_database = (_tree_cpu(postmaster) - cpu_database) if postmaster else 0.0
    calls = len([line for line in access_log.read_text().splitlines()[calls_before:] if "/sandbox/" in line])
    outcomes = dict(runs.values_list("outcome").annotate(n=Count("id")).order_by())
    ideal = calls * (latency_ms / 1000) / concurrency
    cores = os.cpu_count() or 1
    cpu_floor = (cpu_worker + cpu_server + cpu_database) / cores
    print(
        f"fleet, {label}: {len(queued)} connections, {calls} bank calls at {latency_ms} ms, concurrency {concurrency}"
    )
    print(f"  outcomes: {outcomes}")
    print(f"  wall {wall:.1f}s vs ideal {ideal:.1f}s (calls × latency ÷ concurrency): {wall / ideal:.2f}× ideal")
    print(f"  bank calls/s {calls / wall:.1f}; syncs/s {len(queued) / wall:.1f}")
    per_sync = 1000 / max(len(queued), 1)
    print(
        f"  CPU a sync: worker {cpu_worker * per_sync:.0f} ms ({len(worker_pids)} process(es), "
        f"{cpu_worker / wall / len(worker_pids):.0%} of a core each), sandbox server {cpu_server * per_sync:.0f} ms, "
        f"PostgreSQL {cpu_database * per_sync:.0f} ms" + ("" if postmaster else " (not readable here)")
    )
    print(f"  CPU floor: (worker + sandbox + PostgreSQL CPU) / {cores} cores = {cpu_floor:.1f}s "
          f"= {cpu_floor / ideal:.2f}× ideal")  # fmt: skip
    print(
        f"  peak database sessions: worker {peak['fleet-worker']} (concurrency {concurrency}), "
        f"sandbox banks' server {peak['fleet-sandbox']}",
        flush=True,
    )


def _fleet(argv: list[str], database_name: str) -> None:
    from django.conf import settings
    from django.utils import timezone

    from aggregator.config.celery import app
    from aggregator.management.commands.sandbox_connect import sandbox_connect
    from aggregator.models import Connection
    from aggregator.services import institution_sync_sandbox
    from providers import http as provider_http
    from providers.oauth import discovery_cache_clear
    from providers.sandbox.oauth.clients import client_sync_demo

    count = int(_opt(argv, "connections", "1000"))
    latency_ms = int(_opt(argv, "latency-ms", "250"))
    concurrency = int(_opt(argv, "concurrency", "64"))
    pool_size = int(_opt(argv, "db-pool", "16"))
    processes = max(1, min(int(_opt(argv, "processes", str(os.cpu_count() or 1))), concurrency))
    threads = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    print(f"fleet: {processes} worker process(es) of {'+'.join(map(str, threads))} threads (concurrency "
          f"{concurrency}: one GIL a process, so one process a core)", flush=True)  # fmt: skip
    print(f"fleet: database pool of {pool_size} sessions a process (worker, each sandbox server process)" if pool_size
          else "fleet: no database pool (a new session per request, task and bank call)", flush=True)  # fmt: skip
    access_log = Path(f"/tmp/bench_fleet_access_{os.getpid()}.log")
    server, base = _gunicorn(database_name, latency_ms, access_log, pool_size)
    workers: list[subprocess.Popen] = []
    try:
        settings.SANDBOX_BASE_URL = base + "/sandbox"
        settings.PUBLIC_BASE_URL = base
        settings.AGGREGATOR = {**settings.AGGREGATOR, "SYNC_JITTER_SECONDS": 0}
        institution_sync_sandbox()
        client_sync_demo()
        discovery_cache_clear()
        provider_http.reset_provider_client()
        original = sandbox_connect(username="alice", bank="albion", sync=False)
        original.next_sync_at = timezone.now() + timedelta(hours=1)
        original.save(update_fields=["next_sync_at"])
        clones = clone_connections(original, count)
        ids = [c.pk for c in clones]
        app.control.purge()
        env = {
            **os.environ,
            "DATABASE_URL": _db_url(database_name, "fleet-worker"),
            "SANDBOX_BASE_URL": base + "/sandbox",
            "PUBLIC_BASE_URL": base,
            "CONN_MAX_AGE": "0",
            "DATABASE_POOL_SIZE": str(pool_size),
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "HTTP_MAX_RETRIES": "2",
            "PYTHONPATH": str(ROOT),
        }
        names = [f"fleet-bench-{os.getpid()}-{i}@localhost" for i in range(processes)]
        for name, count_threads in zip(names, threads, strict=True):
            command = [str(Path(sys.executable).parent / "celery"), "-A", "aggregator.config", "worker",
                       "--pool=threads", f"--concurrency={count_threads}", "-Q", "sync", "-n", name,
                       "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
            workers.append(subprocess.Popen(command, cwd=ROOT, env=env))
        deadline = time.monotonic() + 60
        while len(app.control.ping(destination=names, timeout=1.0)) < len(names):
            if any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
        for label in ("first sync (full history)", "next tick (incremental, the steady state)"):
            Connection.objects.filter(pk__in=ids).update(next_sync_at=timezone.now() - timedelta(minutes=1))
            _tick(label, ids, [w.pid for w in workers], server.pid, access_log, database_name, latency_ms, concurrency)
        Connection.objects.filter(pk__in=ids).update(status=Connection.Status.DISCONNECTED)  # out of dispatch
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
        server.terminate()
        server.wait(timeout=30)
        access_log.unlink(missing_ok=True)


def _dispatch(argv: list[str]) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from aggregator.config.celery import app
    from aggregator.models import Connection, Institution
    from aggregator.services import institution_sync_sandbox
    from aggregator.sync.dispatch import DISPATCHABLE_STATUSES, connections_dispatch_due

    total = int(_opt(argv, "dispatch-connections", "100000"))
    due = int(_opt(argv, "due", "500"))
    institution_sync_sandbox()
    institution = Institution.objects.get(slug="albion")
    User = get_user_model()
    now = timezone.now()

    def fill(first: int, last: int, n_due: int) -> None:
        """Users and connections ``first``..``last - 1``; the first ``n_due`` of them due, a tenth of the rest paused
        (re-authentication), the others due later this hour."""
        batch = 10_000
        for start in range(first, last, batch):
            users = User.objects.bulk_create(
                [User(username=f"dispatch-{i}", password="!") for i in range(start, min(last, start + batch))]
            )
            Connection.objects.bulk_create(
                [
                    Connection(
                        user=user,
                        institution=institution,
                        status=Connection.Status.ACTIVE
                        if (start + i - first) < n_due or (start + i) % 10
                        else Connection.Status.REAUTH_REQUIRED,
                        next_sync_at=now - timedelta(minutes=1)
                        if (start + i - first) < n_due
                        else now + timedelta(minutes=1 + (start + i) % 60),
                    )
                    for i, user in enumerate(users)
                ]
            )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE aggregator_connection")

    queries = [0]

    def tick() -> tuple[float, int]:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            queued = connections_dispatch_due(now=now, limit=due)
            elapsed = time.perf_counter() - started
        queries[0] = len(captured)
        return elapsed, len(queued)

    fill(0, due, due)
    small, queued_small = tick()
    print(f"dispatch: {queued_small} due of {due} connections: one tick {small * 1000:.0f} ms", flush=True)
    fill(due, total, due)
    with transaction.atomic():
        plan = (
            Connection.objects.filter(status__in=DISPATCHABLE_STATUSES, next_sync_at__lte=now)
            .order_by("next_sync_at", "pk")
            .select_for_update(skip_locked=True)[:due]
            .explain(analyze=True, buffers=True)
        )
    big, queued_big = tick()
    print(
        f"dispatch: {queued_big} due of {total:,} connections: one tick {big * 1000:.0f} ms (ratio {big / small:.2f})"
    )
    print(f"  per queued sync: {big / max(queued_big, 1) * 1000:.2f} ms (claim, budget, SyncRun row, broker message)")
    print(f"  database queries in the tick: {queries[0]} (set-based: the same for any number of due connections)")
    print("  EXPLAIN of the due query:\n" + "\n".join("    " + line for line in plan.splitlines()), flush=True)
    app.control.purge()  # the queued syncs of the ticks: nobody consumes them here


def run(argv: list[str]) -> None:
    from django.db import connection

    from benchmarks.bench_ingest import _bench_database

    if connection.vendor != "postgresql":
        print("fleet: skipped, needs PostgreSQL (DATABASE_URL=postgres://…)")
        return
    if not os.environ.get("CELERY_BROKER_URL", "").startswith(("redis://", "amqp://")):
        print("fleet: skipped, needs a real broker (CELERY_BROKER_URL=redis://… or amqp://…)")
        return
    with _bench_database() as name:
        if "--no-fleet" not in argv:
            _fleet(argv, name)
        if "--no-dispatch" not in argv:
            _dispatch(argv)
