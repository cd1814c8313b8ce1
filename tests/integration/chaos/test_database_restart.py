"""Chaos: restart PostgreSQL (a throwaway cluster of our own, stopped like a crash) under load, and require the
web process to answer 503 with ``Retry-After`` — never another 5xx — while it is down, ``/healthz`` to say so,
and full recovery without a restart of the web process (issue 17; ``docs/operations.md``, "Database")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import pytest

from .processes import ROOT, PostgresCluster, free_port, stop_process, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

# Each needs the database: the health check, a bearer-token lookup, a client lookup at the token endpoint.
LOAD = [
    ("GET", "/healthz", None),
    ("GET", "/api/v1/accounts", None),
    ("POST", "/oauth/token/", {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}),
]
NORMAL = {"/healthz": 200, "/api/v1/accounts": 401, "/oauth/token/": 401}
RECOVERY_BUDGET = 30  # seconds from the database's return to normal answers


@pytest.fixture
def cluster():  # type: ignore[no-untyped-def]
    pg = PostgresCluster()
    try:
        pg.init().start()
        yield pg
    finally:
        pg.remove()


@pytest.fixture
def web(cluster, tmp_path):  # type: ignore[no-untyped-def]
    cluster.createdb("chaos")
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url("chaos"),
        "CONN_MAX_AGE": "60",  # kept connections: the restart cuts them under the server's feet
        "DATA_DIR": str(tmp_path / "var"),
        "DEBUG": "0",
    }
    env.pop("CACHE_URL", None)  # the cache is not under test here
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, cwd=ROOT, check=True, capture_output=True, timeout=600)
    port = free_port()
    log = open(tmp_path / "web.log", "w")  # noqa: SIM115 (the server's log, closed below)
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"], env=env, cwd=ROOT, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(base + "/livez") == 200, timeout=60, what="the web server")
        yield base
    finally:
        stop_process(server, sig=signal.SIGINT)
        log.close()


def _get(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def test_a_postgresql_restart_under_load_is_503s_then_full_recovery(cluster, web):
    answers: list[tuple[float, str, int, str, bool]] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=web, timeout=10) as client:
            while not stop.is_set():
                for method, path, form in LOAD:
                    try:
                        r = client.request(method, path, data=form, headers={"Authorization": "Bearer nope"})
                    except httpx.HTTPError:
                        continue  # the server itself never stops; a timeout under load is not an answer
                    answers.append(
                        (
                            time.monotonic(),
                            path,
                            r.status_code,
                            r.headers.get("content-type", ""),
                            "retry-after" in r.headers,
                        )
                    )

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        cluster.stop("immediate")  # a crash: every session cut at once
        stopped_at = time.monotonic()
        time.sleep(4)
        down_until = time.monotonic()
        cluster.start()
        back_at = time.monotonic()

        def normal() -> bool:
            recent = [(p, s) for t, p, s, _, _ in answers[-30:] if t > back_at]
            return len(recent) >= 15 and all(NORMAL[p] == s for p, s in recent)

        wait_for(normal, timeout=RECOVERY_BUDGET, what="normal answers after the restart")
        recovered_in = time.monotonic() - back_at
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)

    bad = [(p, s, ct) for _, p, s, ct, _ in answers if s >= 500 and s != 503]
    assert not bad, Counter(bad)
    outage = [(p, s, ct, retry) for t, p, s, ct, retry in answers if s == 503]
    assert outage, "no request met the outage"
    assert {p for p, *_ in outage} >= {"/healthz", "/api/v1/accounts"}
    for path, _, content_type, retry_after in outage:
        assert content_type.startswith("application/json"), (path, content_type)
        assert retry_after or path == "/healthz", path
    during = [s for t, p, s, _, _ in answers if p == "/healthz" and stopped_at + 0.5 < t < down_until]
    assert during and set(during) == {503}
    print(f"\n{len(answers)} requests, {len(outage)} answered 503 during the outage; normal {recovered_in:.1f} s after")
