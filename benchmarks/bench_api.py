"""Data API benchmark (PostgreSQL only): ``GET /api/v1/accounts/{id}/transactions`` on ≥ 1,000,000 transactions.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/agg_api python -m benchmarks api [--requests=N]
        [--concurrency=C] [--workers=W] [--rebuild]

Builds (once; reused while it has the data) a dedicated database ``<your db>_bench`` holding 1,000,000
transactions over 200 accounts — one of 600,000 so that page 5,000 exists — generated server-side with
``generate_series``; serves it with gunicorn (``aggregator.config.wsgi``, 2 workers for two cores, settings
``benchmarks.bench_settings``: Redis cache, the benchmark URLs of ``benchmarks/bench_urls.py``); then measures
with httpx in threads and prints, never asserts (``--rows=N``: N transactions instead, the big account keeping its
600,000 and the other 199 sharing the rest — the scale check of issue 16, e.g. ``--rows=10000000``;
``--unpartitioned``: the same rows in the plain table of before migration 0013, the baseline on PostgreSQL):

1. throughput and p50/p99 of the API (OAuth2 token → consent → throttles → keyset page → access log) against a
   bare Django view returning the same JSON bytes from ``values()`` + orjson — target ratio ≥ 0.8;
2. latency of page 1 vs a page 5,000 deep (keyset) — target ratio ≤ 1.2;
3. the same endpoint written the everyday way (``ModelSerializer`` + ``PageNumberPagination``), page 1 and
   page 5,000, as the peer baseline;
   With a DPoP-bound token (RFC 9449: one signed proof per request, made by the client before each timed
   block) beside the bearer token, in the same rounds — target DPoP / bearer ≥ 0.7 (``benchmarks/dpop_client.py``);
4. the cost of one request in-process (Django's WSGI handler called directly, as gunicorn does, no HTTP and no
   client threads competing for the CPU): API vs bare, in short alternating blocks, best and 10th-percentile
   block (``--no-inprocess`` skips it; ``benchmarks/api_inprocess.py``).

Sections 1 and 4 also measure what each framework-internals decision buys (``benchmarks/variants.py``): section 1
on a second gunicorn serving the API with the public ORM token lookup instead of the compiled one, section 4 in
the same process with each variant swapped in block by block.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .api_inprocess import print_inprocess
from .dpop_client import DPoPBench

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TOKEN = "bench-api-token-0123456789abcdefghijklmnopqrstuvwxyz"
DPOP_TOKEN = "bench-api-dpop-token-0123456789abcdefghijklmnopqrstuvwxyz"
BIG_ACCOUNT_ROWS = 600_000
OTHER_ACCOUNTS = 199
OTHER_ACCOUNT_ROWS = 2_011
ROUNDS = 5  # 600,000 + 199 * 2,011 = 1,000,189
DEFAULT_ROWS = BIG_ACCOUNT_ROWS + OTHER_ACCOUNTS * OTHER_ACCOUNT_ROWS


def _other_account_rows() -> int:
    """Rows of each of the other accounts: ``BENCH_API_ROWS`` (set from ``--rows``) less the big account's."""
    total = int(os.environ.get("BENCH_API_ROWS") or DEFAULT_ROWS)
    return max(OTHER_ACCOUNT_ROWS, (total - BIG_ACCOUNT_ROWS) // OTHER_ACCOUNTS)


def _option(argv: list[str], name: str, default: int) -> int:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return int(arg.split("=", 1)[1])
    return default


def _bench_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_bench"))


# --- database (runs in a subprocess with DATABASE_URL pointing at the bench database) ----------------------


def _ensure_database(admin_url: str, name: str, rebuild: bool) -> None:
    import psycopg

    parts = urlsplit(admin_url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and rebuild:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_main() -> None:
    """Migrate and seed the bench database (idempotent); print the ids the client needs as JSON."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aggregator.config.settings")
    django.setup()
    import datetime as dt

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    if os.environ.get("BENCH_API_UNPARTITIONED"):
        # The baseline of issue 16: the same rows in the plain table (the migration keeps them both ways; the
        # next run without --unpartitioned partitions them again).
        call_command("migrate", "aggregator", "0012_sync_lease", verbosity=0)
    from django.contrib.auth import get_user_model

    from aggregator.models import Account, Balance, Connection, Institution, Transaction
    from consent.models import AccessToken, Application, Consent

    user, _ = get_user_model().objects.get_or_create(username="bench")
    institution, _ = Institution.objects.get_or_create(
        slug="bench-bank", defaults={"name": "Bench Bank", "country": "GB", "provider": "obie"}
    )
    conn, _ = Connection.objects.get_or_create(user=user, institution=institution)
    if Account.objects.filter(connection=conn).count() != 1 + OTHER_ACCOUNTS:
        Account.objects.filter(connection=conn).delete()
        Account.objects.bulk_create(
            Account(
                connection=conn,
                provider_account_id=f"acc-{i:04d}",
                display_name=f"Account {i}",
                type="current",
                currency="GBP",
                sort_code="601613",
                account_number=f"{31926800 + i:08d}",
            )
            for i in range(1 + OTHER_ACCOUNTS)
        )
    accounts = list(Account.objects.filter(connection=conn).order_by("provider_account_id"))
    big = accounts[0]
    other_rows = _other_account_rows()
    expected = BIG_ACCOUNT_ROWS + OTHER_ACCOUNTS * other_rows
    if Transaction.objects.filter(account__connection=conn).count() != expected:
        started = time.perf_counter()
        Transaction.objects.filter(account__connection=conn).delete()
        with connection.cursor() as cursor:
            # ~600 transactions a day on the big account (many ties on booking_date), ~2 a day elsewhere.
            sql = """
                INSERT INTO aggregator_transaction (
                    public_id, account_id, provider_transaction_id, status, booking_date, booked_at, value_date,
                    amount, currency, description, merchant_name, category, counterparty_name,
                    bank_transaction_code, pending_transaction_id, merchant_category_code, raw, removed_at, created_at,
                    updated_at)
                SELECT gen_random_uuid(), %s, 'txn-' || g, CASE WHEN g %% 97 = 0 THEN 'pending' ELSE 'booked' END,
                       DATE '2026-06-30' - (g / %s)::int, NULL, DATE '2026-06-30' - (g / %s)::int,
                       ((g %% 20000) - 15000)::numeric / 100, 'GBP', 'CARD PAYMENT TO MERCHANT ' || (g %% 500),
                       'Merchant ' || (g %% 500), 'groceries', '', 'PMNT-CCRD-POSD', '', '', '{}'::jsonb, NULL, now(),
                       now()
                FROM generate_series(1, %s) AS g
            """
            cursor.execute(sql, [big.pk, 600, 600, BIG_ACCOUNT_ROWS])
            for account in accounts[1:]:
                per_day = max(2, other_rows // 1000)
                cursor.execute(sql, [account.pk, per_day, per_day, other_rows])
            cursor.execute("ANALYZE aggregator_transaction")
        print(f"seeded {expected:,} transactions in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    for account in accounts:
        Balance.objects.update_or_create(
            account=account,
            type="booked",
            defaults={"amount": "1234.56", "currency": "GBP", "as_of": timezone.now()},
        )
    app, _ = Application.objects.get_or_create(
        name="Bench TPP",
        defaults={
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": "http://127.0.0.1/callback",
        },
    )
    consent = Consent.objects.filter(application=app, user=user).first() or Consent(application=app, user=user)
    consent.status = Consent.Status.AUTHORISED
    consent.permissions = ["accounts", "balances", "transactions"]
    consent.expires_at = timezone.now() + dt.timedelta(days=30)
    consent.transactions_from = consent.transactions_to = None
    consent.authorised_at = timezone.now()
    consent.save()
    consent.accounts.set(accounts)
    AccessToken.objects.filter(application=app).delete()
    AccessToken.objects.create(
        user=user,
        application=app,
        consent=consent,
        token=TOKEN,
        scope="accounts balances transactions",
        expires=timezone.now() + dt.timedelta(days=1),
    )
    # The same grant, DPoP-bound (cnf.jkt) to a key made for this run; the client gets its private half.
    from joserfc.jwk import ECKey

    dpop_key = ECKey.generate_key("P-256")
    AccessToken.objects.create(
        user=user,
        application=app,
        consent=consent,
        token=DPOP_TOKEN,
        jkt=dpop_key.thumbprint(),
        scope="accounts balances transactions",
        expires=timezone.now() + dt.timedelta(days=1),
    )
    # The cursor of page 5,000 (its position is the last row of page 4,999).
    position = (
        Transaction.objects.filter(account=big, removed_at__isnull=True)
        .order_by("-booking_date", "-id")
        .values_list("booking_date", "id")[4_999 * 100 - 1]
    )
    from aggregator.cursors import cursor_encode

    cursor = cursor_encode(
        {"d": position[0].isoformat(), "i": position[1]}, purpose="transactions", owner=str(big.public_id)
    )
    ids = {"account": str(big.public_id), "deep_cursor": cursor, "dpop_key": dpop_key.as_dict(private=True)}
    print(json.dumps(ids))


# --- server and client ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _load(client_factory, url: str, headers, requests: int, concurrency: int) -> dict:  # type: ignore[no-untyped-def]
    """``headers``: one dict for every request, or a callable ``(url, n)`` giving one dict per request (DPoP
    proofs, made before the clock starts)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(requests))
    per_request = iter(headers(url, requests)) if callable(headers) else None

    def worker() -> None:
        nonlocal errors
        with client_factory() as client:
            while True:
                with lock:
                    if next(counter, None) is None:
                        return
                    request_headers = next(per_request) if per_request is not None else headers
                t0 = time.perf_counter()
                response = client.get(url, headers=request_headers)
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        errors += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {
        "latencies": latencies,
        "wall": wall,
        "rps": len(latencies) / wall,
        "p50": statistics.median(latencies) * 1000,
        "p99": _percentile(latencies, 0.99) * 1000,
        "errors": errors,
    }


def run(argv: list[str]) -> None:
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        print(
            "bench_api needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> "
            "(it creates and reuses <db>_bench).",
            file=sys.stderr,
        )
        raise SystemExit(2)
    import httpx

    requests = _option(argv, "requests", 1500)
    concurrency = _option(argv, "concurrency", 8)
    workers = _option(argv, "workers", 2)
    rows = _option(argv, "rows", DEFAULT_ROWS)
    admin_url = os.environ.get("DATABASE_URL") or (
        f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    bench_url = _bench_url(admin_url)
    bench_name = urlsplit(bench_url).path.lstrip("/")
    _ensure_database(admin_url, bench_name, rebuild="--rebuild" in argv)
    env = {
        **os.environ,
        "DATABASE_URL": bench_url,
        "DJANGO_ENV": "local",
        "PYTHONPATH": str(ROOT),
        "BENCH_API_ROWS": str(rows),
        "BENCH_API_UNPARTITIONED": "1" if "--unpartitioned" in argv else "",
    }
    total = BIG_ACCOUNT_ROWS + OTHER_ACCOUNTS * max(OTHER_ACCOUNT_ROWS, (rows - BIG_ACCOUNT_ROWS) // OTHER_ACCOUNTS)
    print(f"preparing {bench_name} ({total:,} transactions; generated once, then reused)…", flush=True)
    setup = subprocess.run(
        [PY, "-c", "from benchmarks.bench_api import setup_main; setup_main()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if setup.returncode != 0:
        print(setup.stderr[-3000:], file=sys.stderr)
        raise SystemExit(1)
    sys.stderr.write(setup.stderr)
    ids = json.loads(setup.stdout.strip().splitlines()[-1])

    server_env = {**env, "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings"}
    # The shipped code, and beside it the same code with the public ORM token lookup instead of the compiled one
    # (benchmarks/variants.py), so that section 1 measures what that framework internal buys in the same run.
    base, server = _start_server("aggregator.config.wsgi", server_env, workers)
    orm_base, orm_server = _start_server(
        "benchmarks.wsgi_variant", {**server_env, "BENCH_API_VARIANT": "orm_lookup"}, workers
    )
    try:
        _wait_ready(base)
        _wait_ready(orm_base)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        dpop = DPoPBench(ids["dpop_key"], DPOP_TOKEN)
        account = ids["account"]
        api = f"{base}/api/v1/accounts/{account}/transactions?page_size=100"
        api_orm = f"{orm_base}/api/v1/accounts/{account}/transactions?page_size=100"
        deep = f"{api}&cursor={ids['deep_cursor']}"
        bare = f"{base}/bench/bare/accounts/{account}/transactions?page_size=100"
        everyday = f"{base}/bench/everyday/accounts/{account}/transactions?page_size=100"
        everyday_deep = f"{everyday}&page=5000"

        def strip(body: dict) -> dict:
            body["meta"].pop("request_id", None)
            return body

        api_body, bare_body = httpx.get(api, headers=auth).json(), httpx.get(bare).json()
        orm_body = json.loads(httpx.get(api_orm, headers=auth).text.replace(orm_base, base))  # links name the server
        same = strip(api_body) == strip(bare_body) == strip(orm_body)
        dpop_body = httpx.get(api, headers=dpop.block(api, 1)[0]).json()
        same = same and strip(dpop_body) == strip(api_body)
        print(f"API (both token lookups, bearer and DPoP) and bare view bodies identical (but meta.request_id): {same}")
        deep_body = httpx.get(deep, headers=auth).json()
        print(
            f"page 5,000 holds {len(deep_body['data'])} rows, first booking date {deep_body['data'][0]['booking_date']}"
        )

        def client() -> httpx.Client:
            return httpx.Client(timeout=30)

        for url, hdrs in ((api, auth), (api, dpop.block), (api_orm, auth), (bare, {}), (everyday, auth)):
            _load(client, url, hdrs, 100, concurrency)  # warm-up: connections, caches, plans

        print(
            f"\n1) throughput, {requests} requests each, {concurrency} client threads, {workers} gunicorn workers"
            f" (interleaved in {ROUNDS} rounds, the order rotating, so a noisy neighbour hits every variant alike)"
        )
        variants = (
            ("bare values()+orjson", bare, {}),
            ("API (consent, throttles, log)", api, auth),
            ("API with DPoP proofs (RFC 9449)", api, dpop.block),
            ("API, token lookup via the public ORM", api_orm, auth),
            ("everyday ModelSerializer+PageNumber", everyday, auth),
        )
        rounds: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
        for i in range(ROUNDS):
            for name, url, hdrs in variants[i % len(variants) :] + variants[: i % len(variants)]:
                rounds[name].append(_load(client, url, hdrs, requests // ROUNDS, concurrency))
        results = {}
        for name, parts in rounds.items():
            latencies = [x for p in parts for x in p["latencies"]]
            results[name] = r = {
                "rps": sum(len(p["latencies"]) for p in parts) / sum(p["wall"] for p in parts),
                "p50": statistics.median(latencies) * 1000,
                "p99": _percentile(latencies, 0.99) * 1000,
                "errors": sum(p["errors"] for p in parts),
            }
            print(
                f"   {name:38s} {r['rps']:8.1f} req/s   p50 {r['p50']:6.1f} ms   p99 {r['p99']:6.1f} ms"
                f"   non-200: {r['errors']}"
            )
        bare_rps = results["bare values()+orjson"]["rps"]
        ratio = results["API (consent, throttles, log)"]["rps"] / bare_rps
        orm_ratio = results["API, token lookup via the public ORM"]["rps"] / bare_rps
        peer = results["everyday ModelSerializer+PageNumber"]["rps"] / bare_rps
        dpop_ratio = results["API with DPoP proofs (RFC 9449)"]["rps"] / results["API (consent, throttles, log)"]["rps"]
        print(
            f"   API / bare throughput ratio: {ratio:.2f} (target ≥ 0.8); with the public ORM token lookup:"
            f" {orm_ratio:.2f}; everyday / bare: {peer:.2f}"
        )
        print(f"   API with DPoP proofs / API with a bearer token: {dpop_ratio:.2f} (target ≥ 0.7)")

        print(
            f"\n2) latency, page 1 vs page 5,000 (sequential, 300 requests each, 40 for the OFFSET page 5,000;"
            f" interleaved in {ROUNDS} rounds)"
        )
        sequential = (
            ("API page 1", api, 300),
            ("API page 5,000 (keyset)", deep, 300),
            ("everyday page 1", everyday, 300),
            ("everyday page 5,000 (OFFSET)", everyday_deep, 40),
        )
        parts_of: dict[str, list[dict]] = {name: [] for name, _, _ in sequential}
        for _ in range(ROUNDS):
            for name, url, n in sequential:
                parts_of[name].append(_load(client, url, auth, n // ROUNDS, 1))
        seq = {}
        for name, parts in parts_of.items():
            latencies = [x for p in parts for x in p["latencies"]]
            seq[name] = r = {
                "p50": statistics.median(latencies) * 1000,
                "p99": _percentile(latencies, 0.99) * 1000,
                "errors": sum(p["errors"] for p in parts),
            }
            print(f"   {name:38s} p50 {r['p50']:7.1f} ms   p99 {r['p99']:7.1f} ms   non-200: {r['errors']}")
        deep_ratio = seq["API page 5,000 (keyset)"]["p50"] / seq["API page 1"]["p50"]
        everyday_ratio = seq["everyday page 5,000 (OFFSET)"]["p50"] / seq["everyday page 1"]["p50"]
        print(f"   API page 5,000 / page 1 p50 ratio: {deep_ratio:.2f} (target ≤ 1.2); everyday: {everyday_ratio:.1f}")
        if "--no-inprocess" not in argv:
            print_inprocess(ROOT, env, ids, token=TOKEN)
    finally:
        for process in (server, orm_server):
            process.terminate()
        for process in (server, orm_server):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _start_server(module: str, env: dict[str, str], workers: int) -> tuple[str, subprocess.Popen]:
    port = _free_port()
    command = [str(Path(PY).parent / "gunicorn"), module, f"--workers={workers}", f"--bind=127.0.0.1:{port}"]
    return f"http://127.0.0.1:{port}", subprocess.Popen([*command, "--log-level=warning"], cwd=ROOT, env=env)


def _wait_ready(base: str) -> None:
    import httpx

    deadline = time.time() + 120  # a loaded machine (CI beside other jobs) starts gunicorn slowly
    while True:
        try:
            httpx.get(f"{base}/api/v1/accounts", timeout=10)
            return
        except httpx.TransportError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
