"""Throwaway services for the chaos tests: a Redis server, a PostgreSQL cluster and Celery workers that the
tests may stop, kill and restart. Never the machine's shared services: each runs on a free port of its own, in
a temporary directory, and is stopped by the test that started it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.integration import skip_or_fail

__all__ = ["PostgresCluster", "RedisServer", "free_port", "start_worker", "stop_process", "wait_for"]

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def stop_process(process: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class RedisServer:
    """``redis-server`` on a free port, no persistence; ``stop()``/``start()`` simulate an outage."""

    def __init__(self, tmp: Path) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            skip_or_fail("needs redis-server on PATH for the outage tests")
        self.port = free_port()
        self.dir = tmp
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        log = open(self.dir / f"redis-{self.port}.log", "a")  # noqa: SIM115 (kept open for the process)
        self.process = subprocess.Popen([*args, "--dir", str(self.dir)], stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._answers, timeout=20, what=f"redis on {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, sig=signal.SIGKILL)
            self.process = None


class PostgresCluster:
    """A throwaway PostgreSQL cluster (``initdb`` + ``pg_ctl``) on a free port, run as the ``postgres`` user
    when the tests run as root; ``restart()`` is a real server restart (every session is cut)."""

    def __init__(self) -> None:
        self.bin = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
        if not (self.bin / "initdb").exists():
            skip_or_fail(f"needs PostgreSQL server binaries in {self.bin} (set PG_BIN)")
        self.port = free_port()
        # Its own directory (pytest's tmp_path is private to root, and the server must run as postgres).
        self.root = Path(tempfile.mkdtemp(prefix="chaos-pg-"))
        self.dir = self.root / "pgdata"
        self.socket_dir = self.root / "pgsock"
        self.log = self.root / "postgres.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                skip_or_fail("running as root without runuser: cannot run initdb as postgres")
            self.as_user = [runuser, "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, *args], check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> PostgresCluster:
        self.socket_dir.mkdir()
        if self.as_user:
            shutil.chown(self.socket_dir, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        self.stop("immediate")  # like a crash: no checkpoint, sessions cut
        self.start()

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, name: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def createdb(self, name: str) -> None:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)


def start_worker(*, env: dict[str, str], hostname: str, log_path: Path) -> subprocess.Popen:
    """``celery worker --pool=solo`` with ``env`` over this process's environment; returns once it is ready."""
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            [
                celery,
                *("-A", "aggregator.config", "worker", "--pool=solo", "--loglevel=INFO", "-n", hostname),
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    # The log's "ready" line, not a ping: a solo worker that takes a waiting task at once cannot answer pings.
    deadline = time.monotonic() + 90
    while f"{hostname} ready." not in log_path.read_text()[offset:]:
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process, sig=signal.SIGKILL)
            raise RuntimeError(f"the Celery worker did not start; its log:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.2)
    return process
