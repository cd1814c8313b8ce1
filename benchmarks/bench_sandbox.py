"""How fast the sandbox banks serve 500-transaction pages over real HTTP.

Starts gunicorn with the project's WSGI app (2 workers) on a free port, connects the ``bulk`` user (100k+
transactions) at each bank through the bank's real OAuth pages, then fetches 500-transaction pages for
``--seconds`` per bank from ``--concurrency`` threads. Prints pages/s, transactions/s, p50/p99 latency and the
ratio of the page p50 to a trivial ``/healthz`` round trip measured in the same run.

    python -m benchmarks sandbox [--seconds=5] [--concurrency=2] [--user=bulk]
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

__all__ = ["run"]

ROOT = Path(__file__).resolve().parent.parent
REDIRECT_URI = "http://127.0.0.1:8000/connect/callback/"
SECRETS = {"albion": "albion-sandbox-secret", "rhein": "rhein-sandbox-secret", "liberty": "liberty-sandbox-secret"}
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_ACCOUNT = re.compile(r'name="accounts" value="([^"]+)"')


def _opt(argv: list[str], name: str, default: str) -> str:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return default


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aggregator.config.settings", "LOG_LEVEL": "WARNING"}
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen(
        [
            gunicorn,
            "aggregator.config.wsgi:application",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/sandbox/albion/.well-known/oauth-authorization-server", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("gunicorn did not start")


def _basic(bank: str) -> str:
    return "Basic " + base64.b64encode(f"aggregator-{bank}:{SECRETS[bank]}".encode()).decode()


def _connect(base: str, bank: str, username: str) -> tuple[str, str]:
    """Drive the bank's OAuth pages like a browser; returns (access token, consent id)."""
    http = httpx.Client(base_url=base, follow_redirects=False, timeout=60)
    consent_id = ""
    if bank == "albion":
        cc = http.post(
            "/sandbox/albion/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": _basic(bank)},
        ).json()["access_token"]
        body = {
            "Data": {
                "Permissions": [
                    "ReadAccountsDetail",
                    "ReadBalances",
                    "ReadTransactionsDetail",
                    "ReadTransactionsCredits",
                    "ReadTransactionsDebits",
                ]
            },
            "Risk": {},
        }
        consent_id = http.post(
            "/sandbox/albion/open-banking/v3.1/aisp/account-access-consents",
            json=body,
            headers={"Authorization": f"Bearer {cc}"},
        ).json()["Data"]["ConsentId"]
    elif bank == "rhein":
        from providers.sandbox.bankdata import sandbox_now

        body = {
            "access": {"allPsd2": "allAccounts"},
            "recurringIndicator": True,
            "frequencyPerDay": 4,
            "validUntil": (sandbox_now().date() + timedelta(days=30)).isoformat(),
            "combinedServiceIndicator": False,
        }
        consent_id = http.post(
            "/sandbox/rhein/v1/consents", json=body, headers={"X-Request-ID": str(uuid.uuid4())}
        ).json()["consentId"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    params = {
        "response_type": "code",
        "client_id": f"aggregator-{bank}",
        "redirect_uri": REDIRECT_URI,
        "state": "bench",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if consent_id:
        params["consent_id"] = consent_id
    login_url = http.get(f"/sandbox/{bank}/oauth/authorize", params=params).headers["location"]
    page = http.get(login_url).text
    select_url = http.post(
        login_url,
        data={"username": username, "password": "sandbox", "csrfmiddlewaretoken": _CSRF.search(page).group(1)},
    ).headers["location"]
    page = http.get(select_url).text
    done = http.post(
        select_url,
        data={
            "accounts": _ACCOUNT.findall(page),
            "action": "approve",
            "csrfmiddlewaretoken": _CSRF.search(page).group(1),
        },
    )
    code = parse_qs(urlsplit(done.headers["location"]).query)["code"][0]
    token = http.post(
        f"/sandbox/{bank}/oauth/token",
        headers={"Authorization": _basic(bank)},
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
    ).json()["access_token"]
    return token, consent_id


class _Pager:
    """Yields (url, headers) of 500-transaction pages for one bank, cycling through the listing."""

    def __init__(self, http: httpx.Client, bank: str, token: str, consent_id: str) -> None:
        self.bank, self.http = bank, http
        self.headers = {"Authorization": f"Bearer {token}"}
        if bank == "rhein":
            self.headers.update({"Consent-ID": consent_id, "PSU-IP-Address": "192.168.8.78"})
        self.cursor = ""
        if bank == "albion":
            accounts = http.get("/sandbox/albion/open-banking/v3.1/aisp/accounts", headers=self.headers).json()
            self.account = accounts["Data"]["Account"][0]["AccountId"]
            first = http.get(self._albion(1), headers=self.headers).json()
            self.pages = first["Meta"]["TotalPages"]
        elif bank == "rhein":
            self.headers["X-Request-ID"] = str(uuid.uuid4())
            accounts = http.get("/sandbox/rhein/v1/accounts", headers=self.headers).json()
            self.account = accounts["accounts"][0]["resourceId"]
            self.pages = 0
            while True:  # count pages once
                body = http.get(self._rhein(self.pages), headers=self._rhein_headers()).json()
                self.pages += 1
                if "next" not in body["transactions"]["_links"]:
                    break
        self.n = 0

    def _albion(self, page: int) -> str:
        return f"/sandbox/albion/open-banking/v3.1/aisp/accounts/{self.account}/transactions?page={page}"

    def _rhein(self, index: int) -> str:
        return (
            f"/sandbox/rhein/v1/accounts/{self.account}/transactions?bookingStatus=both&dateFrom=2000-01-01"
            f"&pageIndex={index}&itemsPerPage=500"
        )

    def _rhein_headers(self) -> dict[str, str]:
        return {**self.headers, "X-Request-ID": str(uuid.uuid4())}

    def fetch(self) -> tuple[float, int]:
        """One page: (seconds, transactions in it)."""
        self.n += 1
        if self.bank == "albion":
            started = time.perf_counter()
            body = self.http.get(self._albion(1 + self.n % self.pages), headers=self.headers).json()
            return time.perf_counter() - started, len(body["Data"]["Transaction"])
        if self.bank == "rhein":
            started = time.perf_counter()
            body = self.http.get(self._rhein(self.n % self.pages), headers=self._rhein_headers()).json()
            report = body["transactions"]
            return time.perf_counter() - started, len(report.get("booked", [])) + len(report.get("pending", []))
        started = time.perf_counter()
        body = self.http.get(
            "/sandbox/liberty/transactions/sync", params={"cursor": self.cursor, "count": 500}, headers=self.headers
        ).json()
        elapsed = time.perf_counter() - started
        self.cursor = body["next_cursor"] if body["has_more"] else ""  # start over after the last page
        return elapsed, len(body["added"]) + len(body["modified"]) + len(body["removed"])


def _measure(fn, seconds: float, threads: int) -> tuple[list[float], int, float]:  # type: ignore[no-untyped-def]
    """Each thread first builds its state with ``fn()`` (connect, warm up); then all measure for ``seconds``."""
    latencies: list[float] = []
    items = [0]
    lock = threading.Lock()
    ready = threading.Barrier(threads + 1)
    window: dict[str, float] = {}

    def worker() -> None:
        state = fn()
        ready.wait()
        while time.monotonic() < window["stop"]:
            elapsed, n = state()
            with lock:
                latencies.append(elapsed)
                items[0] += n

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    window["stop"] = float("inf")  # until every thread is ready
    ready.wait()
    started = time.monotonic()
    window["stop"] = started + seconds
    for t in pool:
        t.join()
    return latencies, items[0], time.monotonic() - started


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run(argv: list[str]) -> None:
    from django.core.management import call_command

    seconds = float(_opt(argv, "seconds", "5"))
    threads = int(_opt(argv, "concurrency", "2"))
    username = _opt(argv, "user", "bulk")
    call_command("migrate", verbosity=0)
    call_command("sandbox_bootstrap", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start_server(port)
    try:

        def health():  # type: ignore[no-untyped-def]
            http = httpx.Client(base_url=base, timeout=30)

            def once() -> tuple[float, int]:
                started = time.perf_counter()
                http.get("/healthz")
                return time.perf_counter() - started, 0

            return once

        base_lat, _, _ = _measure(health, min(seconds, 3), threads)
        base_p50 = _pct(base_lat, 0.5)
        print(
            f"baseline /healthz: p50 {base_p50:.1f} ms, p99 {_pct(base_lat, 0.99):.1f} ms, "
            f"{len(base_lat) / min(seconds, 3):.0f} req/s ({threads} threads, gunicorn 2 workers)"
        )
        for bank in ("albion", "rhein", "liberty"):
            started = time.perf_counter()
            token, consent_id = _connect(base, bank, username)
            connect_s = time.perf_counter() - started

            def make(bank=bank, token=token, consent_id=consent_id):  # type: ignore[no-untyped-def]
                pager = _Pager(httpx.Client(base_url=base, timeout=60), bank, token, consent_id)
                for _ in range(3):  # warm this worker's caches
                    pager.fetch()
                return pager.fetch

            lat, items, wall = _measure(make, seconds, threads)
            p50 = _pct(lat, 0.5)
            print(
                f"{bank:8s} {len(lat) / wall:7.1f} pages/s {items / wall:9.0f} tx/s  p50 {p50:6.1f} ms  "
                f"p99 {_pct(lat, 0.99):6.1f} ms  p50/healthz {p50 / base_p50:5.1f}x  "
                f"(OAuth connect {connect_s:.1f}s, {len(lat)} pages)",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
