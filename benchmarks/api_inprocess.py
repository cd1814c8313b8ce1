"""Section 4 of ``bench_api``: the cost of one request in-process, and what each framework-internals decision buys.

Runs in a subprocess of ``bench_api`` (settings ``benchmarks.bench_settings``, the bench database): Django's WSGI
handler called directly, as gunicorn does, with no HTTP and no client threads competing for the CPU. Variants,
in blocks of 30 requests that alternate (the order rotating each round), best and 10th-percentile block:

* the bare view and the API as shipped;
* the API with the token lookup through the public queryset instead of the compiled one (what the kept SQL
  compiler internals buy);
* the API with the throttle's top-up as one pipeline on the cache backend's private ``_cache`` instead of
  ``cache.incr`` (what the removed internal would buy);

then each swapped part alone (µs per token lookup, µs per top-up of both counters). ``benchmarks/variants.py``
holds the other side of each decision.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["main", "print_inprocess"]

ROUNDS = 60
BLOCK = 30
VARIANTS = (  # key, label, swap (benchmarks.variants.using)
    ("bare", "bare values()+orjson", None),
    ("api", "API as shipped (consent, throttles, log)", {}),
    ("api+orm_lookup", "API, token lookup via the public ORM", {"orm_lookup": True}),
    ("api+pipelined", "API, throttle top-up via private _cache", {"pipelined_throttle": True}),
)


def _p10(values: list[float]) -> float:
    return sorted(values)[len(values) // 10]


def main() -> None:
    """Prints one line of JSON: ``{variant: [best, p10] ms/request, "lookup_us": …, "topup_us": …}``."""
    import warnings

    warnings.simplefilter("ignore")
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    from . import variants

    ids = json.loads(os.environ["BENCH_API_IDS"])
    token = os.environ["BENCH_API_TOKEN"]
    handler = WSGIHandler()
    statuses: list[str] = []

    def call(path: str, auth: str | None) -> None:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "page_size=100",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_ACCEPT": "*/*",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
        }
        if auth:
            environ["HTTP_AUTHORIZATION"] = auth
        response = handler(environ, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(response)
        response.close()

    api = (f"/api/v1/accounts/{ids['account']}/transactions", f"Bearer {token}")
    bare = (f"/bench/bare/accounts/{ids['account']}/transactions", None)
    runs = [(key, bare if swap is None else api, swap or {}) for key, _, swap in VARIANTS]

    def block(target: tuple[str, str | None]) -> float:
        started = time.perf_counter()
        for _ in range(BLOCK):
            call(*target)
        return (time.perf_counter() - started) / BLOCK * 1000

    for _ in range(40):  # warm-up: connections, plans, the compiled lookup, the account-key cache
        for _, target, swap in runs:
            with variants.using(**swap):
                call(*target)
    ms: dict[str, list[float]] = {key: [] for key, _, _ in runs}
    for i in range(ROUNDS):
        shift = i % len(runs)
        for key, target, swap in runs[shift:] + runs[:shift]:
            with variants.using(**swap):
                ms[key].append(block(target))
    if any(not s.startswith("200") for s in statuses):
        raise SystemExit(f"non-200 responses in-process: {sorted(set(statuses))}")
    figures: dict = {key: [min(values), _p10(values)] for key, values in ms.items()}
    figures.update(_parts(token))
    print(json.dumps(figures))


def _alternate(functions: dict[str, Callable[[], object]], n: int) -> dict[str, list[float]]:
    micros: dict[str, list[float]] = {name: [] for name in functions}
    for i in range(ROUNDS):
        for name, function in sorted(functions.items(), reverse=bool(i % 2)):
            started = time.perf_counter()
            for _ in range(n):
                function()
            micros[name].append((time.perf_counter() - started) / n * 1e6)
    return {name: [min(values), _p10(values)] for name, values in micros.items()}


def _parts(token: str) -> dict:
    """The swapped parts alone: µs per token lookup, and per top-up of both counters (what a request that ran out
    of its reservations pays; one request in ``reserve`` does)."""
    from django.core.cache import cache
    from rest_framework.settings import api_settings

    from aggregator.api import throttles
    from consent import api_auth

    from . import variants

    shipped_lookup, orm_lookup = api_auth.access_token_lookup, variants.orm_access_token_lookup
    if shipped_lookup(token) is None or orm_lookup(token) is None:
        raise SystemExit("the bench token is missing")
    lookups = _alternate({"compiled": lambda: shipped_lookup(token), "orm": lambda: orm_lookup(token)}, 100)
    size = throttles._reserve_size(throttles.parse_rate(api_settings.DEFAULT_THROTTLE_RATES["consent"])[0])
    keys = [("bench-variants:tpp", size, 61), ("bench-variants:consent", size, 61)]
    public_topup, pipelined_topup = throttles._incr_many, variants.pipelined_incr_many
    try:
        topups = _alternate({"public": lambda: public_topup(keys), "pipelined": lambda: pipelined_topup(keys)}, 50)
    finally:
        cache.delete_many([key for key, _, _ in keys])
    return {"lookup_us": lookups, "topup_us": topups, "reserve": size}


def print_inprocess(root: Path, env: dict[str, str], ids: dict, *, token: str) -> None:
    print(
        f"\n4) in-process cost per request (WSGI handler, no HTTP; {ROUNDS} rounds of alternating blocks of {BLOCK}"
        " requests; what each framework-internals decision buys, in the same process: benchmarks/variants.py)"
    )
    result = subprocess.run(
        [sys.executable, "-c", "from benchmarks.api_inprocess import main; main()"],
        cwd=root,
        env={
            **env,
            "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
            "BENCH_API_IDS": json.dumps(ids),
            "BENCH_API_TOKEN": token,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    shipped_best, shipped_p10 = figures["api"]
    for key, label, _ in VARIANTS:
        best, p10 = figures[key]
        line = f"   {label:42s} best block {best:5.2f} ms/request   p10 block {p10:5.2f} ms/request"
        if key.startswith("api+"):
            line += f"   ({best - shipped_best:+.3f} / {p10 - shipped_p10:+.3f} ms vs shipped)"
        print(line)
    bare = figures["bare"][0]
    print(
        f"   bare / API cost ratio (best blocks): {bare / shipped_best:.2f} as shipped;"
        f" {bare / figures['api+orm_lookup'][0]:.2f} with the public ORM token lookup"
    )
    compiled, orm = figures["lookup_us"]["compiled"], figures["lookup_us"]["orm"]
    print(
        f"   token lookup alone: compiled (SQL compiler internals, shipped) {compiled[0]:6.1f} / {compiled[1]:6.1f} µs;"
        f" public select_related queryset {orm[0]:6.1f} / {orm[1]:6.1f} µs  (best / p10 block)"
    )
    public, pipelined, reserve = figures["topup_us"]["public"], figures["topup_us"]["pipelined"], figures["reserve"]
    print(
        f"   throttle top-up of both counters: cache.incr (shipped) {public[0]:6.1f} / {public[1]:6.1f} µs;"
        f" pipeline on the private _cache {pipelined[0]:6.1f} / {pipelined[1]:6.1f} µs;"
        f" one top-up per {reserve} requests: {(public[0] - pipelined[0]) / reserve:.1f} µs a request"
    )
