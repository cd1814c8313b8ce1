"""Integration fixtures: the sandbox banks served over real HTTP by pytest-django's live server, the test
database on PostgreSQL, and a real Celery worker subprocess on the Redis broker.

* ``sandbox`` — a live server serving ``/sandbox/`` (``settings.SANDBOX_BASE_URL`` points at it; adapters read it
  at call time), the sandbox institutions and demo OAuth clients, the sandbox clock at real time.
* ``celery_worker`` — ``celery -A aggregator.config worker --pool=solo`` started once per session against the *test*
  database (``DATABASE_URL`` built from the live connection settings) and the same sandbox URL; torn down (and
  its queue purged) at the end of the session, before pytest-django drops the test database.
* ``_no_session_left_when_the_test_database_is_dropped`` (session, autouse) — torn down after the worker and the
  live server and right before pytest-django drops the test database: closes our pooled keep-alive HTTP
  connections to the live server (each one pins a server request thread, and with it that thread's database
  session, ``CONN_MAX_AGE``), waits briefly for those sessions to end, then ends the idle ones left by clients
  that tests never closed, so the drop is clean.
* ``ground_truth(bank, user)`` — ``manage.py sandbox_export`` parsed; ``assert_matches_ground_truth`` compares
  the normalized rows to it field by field.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import TransactionTestCase

from tests.integration import require_postgres, require_redis_broker

_flush_after_test = TransactionTestCase._fixture_teardown


def _flush_retrying_deadlocks(self):  # type: ignore[no-untyped-def]
    """The real worker may still be finishing a task the test's last commit queued (a ledger append, an
    enrichment) while the test database is flushed; PostgreSQL breaks that lock cycle by aborting the TRUNCATE
    (``deadlock detected``), whose transaction it rolled back: flush again once the worker's transaction is done."""
    for attempt in range(5):
        try:
            return _flush_after_test(self)
        except CommandError as exc:
            if attempt == 4 or "deadlock detected" not in str(exc.__cause__ or ""):
                raise
            time.sleep(0.5 * (attempt + 1))
    return None


TransactionTestCase._fixture_teardown = _flush_retrying_deadlocks

ROOT = Path(__file__).resolve().parents[2]


def _other_sessions() -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name, state, left(query, 80) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchall()


@pytest.fixture(scope="session", autouse=True)
def _no_session_left_when_the_test_database_is_dropped(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    yield
    import gc

    from django.db import connection

    from providers import http as provider_http

    # The live server is stopped by now, but its request threads are daemons that live as long as their client
    # keeps the HTTP connection open (and keep their database session, CONN_MAX_AGE). Hang up ours, and let
    # the garbage collector close the sockets of clients that tests dropped without closing them.
    provider_http.reset_provider_client()
    gc.collect()
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            return
        deadline = time.monotonic() + 3
        while _other_sessions() and time.monotonic() < deadline:
            time.sleep(0.1)
        leftover = _other_sessions()
        if leftover:
            # Only this run uses the test database: what is left are idle sessions of stopped live-server
            # threads whose client never hung up. End them so the database is dropped cleanly.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            deadline = time.monotonic() + 5
            while _other_sessions() and time.monotonic() < deadline:
                time.sleep(0.1)
        if remaining := _other_sessions():
            warnings.warn(f"sessions still open on the test database: {remaining}", stacklevel=1)


@pytest.fixture
def sandbox_banks(live_server, settings):  # type: ignore[no-untyped-def]
    """The sandbox banks over real HTTP on any database: institutions, demo OAuth clients, fresh discovery and
    HTTP client (ready for ``sandbox_connect``)."""
    from aggregator.services import institution_sync_sandbox
    from providers import http as provider_http
    from providers.oauth import discovery_cache_clear
    from providers.sandbox.oauth.clients import client_sync_demo

    settings.SANDBOX_BASE_URL = live_server.url + "/sandbox"
    settings.PUBLIC_BASE_URL = live_server.url
    institution_sync_sandbox()
    client_sync_demo()
    discovery_cache_clear()
    provider_http.reset_provider_client()
    yield live_server
    discovery_cache_clear()
    provider_http.reset_provider_client()


@pytest.fixture
def sandbox(sandbox_banks, transactional_db):  # type: ignore[no-untyped-def]
    """The sandbox banks on PostgreSQL, with the sandbox clock reset before and after."""
    require_postgres()
    from providers.sandbox.testing import reset_clock

    reset_clock()
    yield sandbox_banks
    reset_clock()


def _database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    auth = quote(s.get("USER") or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or "5432"
    return f"postgres://{auth}@{host}:{port}/{s['NAME']}"


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, live_server, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A real Celery worker process consuming from the Redis broker, on the test database."""
    with django_db_blocker.unblock():
        require_postgres()
        broker = require_redis_broker()
        database_url = _database_url()
    from aggregator.config.celery import app

    app.control.purge()  # leftovers of an earlier, interrupted run
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "SANDBOX_BASE_URL": live_server.url + "/sandbox",
        "PUBLIC_BASE_URL": live_server.url,
        "CONN_MAX_AGE": "0",  # never keep a session open across tests (flushes, the final DROP DATABASE)
    }
    hostname = f"sync-it-{os.getpid()}@localhost"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                celery,
                "-A",
                "aggregator.config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "-n",
                hostname,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[hostname], timeout=1.0):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start; its log:\n{log_path.read_text()[-4000:]}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        app.control.purge()


def ground_truth(bank: str, user: str) -> dict:
    out = StringIO()
    call_command("sandbox_export", bank, user, "--compact", stdout=out)
    return json.loads(out.getvalue())


def without_as_of(truth: dict) -> dict:
    """The export minus its timestamps of "now" (as_of), to tell whether the bank's data moved."""
    copy = json.loads(json.dumps(truth))
    copy.pop("as_of", None)
    for account in copy["accounts"]:
        for balance in account["balances"]:
            balance.pop("as_of", None)
    return copy


class _Hooks(BaseHTTPRequestHandler):
    """A TPP's webhook endpoint: keeps every JSON body it receives."""

    received: list[dict] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def webhooks():  # type: ignore[no-untyped-def]
    """(URL of a live webhook receiver, the list of bodies it received)."""
    _Hooks.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hooks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks", _Hooks.received
    server.shutdown()
