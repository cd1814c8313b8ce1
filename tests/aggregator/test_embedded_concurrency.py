"""`make run`'s embedded default (SQLite in DATA_DIR) survives a web server, a CLI and a long writer at once.

The server runs in a subprocess with the real embedded settings (no DATABASE_URL, whatever the test run uses), as
`make run` starts it; while another connection holds long write transactions back to back, 8 threads refresh
tokens and ask for client-credentials tokens, and ``manage.py sync`` syncs a sandbox connection: no 5xx, and the
sync succeeds.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

# Five management commands and a server in subprocesses, a fresh SQLite database migrated: a minute and a half on a
# 2-core CI machine, so it runs with the other real-process tests in `make chaos`, not in `make test`.
pytestmark = pytest.mark.chaos

ROOT = Path(__file__).resolve().parents[2]
THREADS = 8
REQUESTS_PER_THREAD = 6


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _embedded_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "DJANGO_ENV", "PUBLIC_BASE_URL", "SANDBOX_BASE_URL"}
    }
    env.update({"DATA_DIR": str(data_dir), "PORT": str(port), "DJANGO_SETTINGS_MODULE": "aggregator.config.settings"})
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


# One authorised consent of the TPP and a refresh token per thread (as after the authorization-code flow).
_REFRESH_TOKENS = f"""
import datetime as dt, json, secrets, uuid
from django.utils import timezone
from consent.models import AccessToken, Application, RefreshToken
from tests.factories import ConsentFactory, UserFactory
app = Application.objects.get(name="Concurrent")
consent = ConsentFactory(application=app, user=UserFactory(), status="authorised", authorised_at=timezone.now(),
                         permissions=["accounts"])
raw = []
for _ in range({THREADS}):
    expires = timezone.now() + dt.timedelta(minutes=5)
    access = AccessToken.objects.create(application=app, user=consent.user, consent=consent, scope="accounts",
                                        token=secrets.token_urlsafe(30), expires=expires)
    token = secrets.token_urlsafe(30)
    RefreshToken.objects.create(application=app, user=consent.user, consent=consent, access_token=access, token=token,
                                token_family=uuid.uuid4())
    raw.append(token)
print(json.dumps(raw))
"""


@pytest.fixture
def embedded_server(tmp_path):  # type: ignore[no-untyped-def]
    port = _free_port()
    env = _embedded_env(tmp_path, port)
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "bootstrap_demo")  # as `make run`: sandbox banks, their demo clients, demo users
    creds = json.loads(_manage(env, "create_tpp", "Concurrent", "--redirect-uri", "http://127.0.0.1:8765/cb", "--json"))
    creds["refresh_tokens"] = json.loads(_manage(env, "shell", "--no-imports", "-c", _REFRESH_TOKENS))
    log = (tmp_path / "web.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("the embedded server did not come up: " + (tmp_path / "web.log").read_text()[-2000:])
        # A real sandbox connection (through the bank's OAuth pages, served by this very server) for the CLI sync.
        _manage(env, "sandbox_connect", "--user", "alice", "--bank", "albion")
        yield base, creds, tmp_path / "db.sqlite3", env
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def _long_writer(db_path: Path, stop: threading.Event, done: list[int]) -> None:
    """Another process's worker: write transactions of 0.3 s, back to back (as a big sync page would be)."""
    db = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    db.execute("CREATE TABLE IF NOT EXISTS concurrency_probe (n INTEGER)")
    while not stop.is_set():
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO concurrency_probe (n) VALUES (?)", (len(done),))
        time.sleep(0.3)
        db.execute("COMMIT")
        done.append(1)
        time.sleep(0.02)
    db.close()


def test_token_requests_during_long_write_transactions_never_answer_5xx(embedded_server):
    base, creds, db_path, env = embedded_server
    stop, written = threading.Event(), []
    writer = threading.Thread(target=_long_writer, args=(db_path, stop, written))
    writer.start()
    statuses: Counter[int] = Counter()
    bodies: list[str] = []

    def ask(refresh_token: str) -> None:
        try:
            _ask(refresh_token)
        except Exception as exc:  # a thread's exception would vanish: make it part of the assertion
            bodies.append(repr(exc))

    def _ask(refresh_token: str) -> None:
        """Alternately a refresh (read, revoke, rotate: a write transaction that starts with a read) and a
        client-credentials token."""
        with httpx.Client(timeout=60) as client:
            for n in range(REQUESTS_PER_THREAD):
                if n % 2 == 0:
                    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
                else:
                    data = {"grant_type": "client_credentials", "scope": "consents"}
                response = client.post(
                    base + "/oauth/token/", data=data, auth=(creds["client_id"], creds["client_secret"])
                )
                statuses[response.status_code] += 1
                if response.status_code != 200:
                    ctype = response.headers.get("content-type")
                    bodies.append(f"{response.status_code} {ctype} {response.text[:300]}")
                    return
                refresh_token = response.json().get("refresh_token", refresh_token)

    try:
        time.sleep(0.5)  # the writer is mid-transaction when the token requests start
        # The CLI in a second terminal: a sync of alice's connection, page transactions against the same file.
        sync = subprocess.Popen(
            [sys.executable, "manage.py", "sync", "--user", "alice"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        askers = [threading.Thread(target=ask, args=(token,)) for token in creds["refresh_tokens"]]
        for thread in askers:
            thread.start()
        for thread in askers:
            thread.join(timeout=120)
        sync_output, _ = sync.communicate(timeout=300)
    finally:
        stop.set()
        writer.join(timeout=30)

    assert sync.returncode == 0 and "succeeded" in sync_output, sync_output[-3000:]

    assert statuses == {200: THREADS * REQUESTS_PER_THREAD}, bodies[:5]
    assert len(written) >= 3  # the writer really wrote throughout


# A 147k-row sync in a subprocess (minutes on 2 cores): part of the long suite, `make chaos`, not CI's budget.
@pytest.mark.chaos
def test_token_requests_while_the_bulk_user_syncs_never_answer_5xx_and_the_sync_completes(embedded_server):
    """The issue's own scenario: `make run`'s defaults, ``bulk`` (~147k transactions) syncing from the CLI, and
    8 threads asking for tokens the whole time."""
    base, creds, _db_path, env = embedded_server
    _manage(env, "sandbox_connect", "--user", "bulk", "--bank", "albion", "--no-sync")
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    sync = subprocess.Popen(
        [sys.executable, "manage.py", "sync", "--user", "bulk"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 240

    def ask(refresh_token: str) -> None:
        with httpx.Client(timeout=60) as client:
            n = 0
            while sync.poll() is None and time.monotonic() < deadline:
                if n % 2 == 0:
                    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
                else:
                    data = {"grant_type": "client_credentials", "scope": "consents"}
                try:
                    response = client.post(
                        base + "/oauth/token/", data=data, auth=(creds["client_id"], creds["client_secret"])
                    )
                except Exception as exc:  # a thread's exception would vanish: make it part of the assertion
                    problems.append(repr(exc))
                    return
                statuses[response.status_code] += 1
                if response.status_code != 200:
                    problems.append(f"{response.status_code} {response.text[:300]}")
                    return
                refresh_token = response.json().get("refresh_token", refresh_token)
                n += 1
                time.sleep(0.05)

    askers = [threading.Thread(target=ask, args=(token,)) for token in creds["refresh_tokens"]]
    for thread in askers:
        thread.start()
    sync_output, _ = sync.communicate(timeout=300)
    for thread in askers:
        thread.join(timeout=120)

    assert sync.returncode == 0 and "succeeded" in sync_output, sync_output[-3000:]
    assert problems == []
    assert set(statuses) == {200} and sum(statuses.values()) >= THREADS * 4  # they really asked during the sync
