"""The real gunicorn with gunicorn.conf.py (issue 17 #12): a request line or header over the *app's* limits gets
the API's JSON error with X-Request-ID (the app's limits answer first); only beyond gunicorn's own limits does a
client see gunicorn's HTML page (documented in docs/operations.md: it cannot be changed without patching it)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _get(port: int, target: str, extra: str = "") -> tuple[int, dict[str, str], bytes]:
    # HTTP/1.0: an unchunked body, and the connection closes after the answer.
    return _raw(port, f"GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):  # type: ignore[no-untyped-def]
    port = _free_port()
    env = {
        **os.environ, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1",
        "DATA_DIR": str(tmp_path_factory.mktemp("gunicorn-data")),
    }  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "aggregator.config.wsgi"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _get(port, "/livez")[0] == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("gunicorn did not start: " + process.stderr.read().decode()[-2000:])
    yield port
    process.terminate()
    process.wait(timeout=20)


def _json_error(response: tuple[int, dict[str, str], bytes], status: int, code: str) -> None:
    got, headers, body = response
    assert got == status, body[:300]
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert payload["errors"][0]["code"] == code and payload["request_id"] == headers["x-request-id"]


def test_a_6_kb_cursor_is_the_apps_json_414(gunicorn):
    _json_error(_get(gunicorn, "/api/v1/accounts/?cursor=" + "A" * 6000), 414, "uri_too_long")


def test_a_12_kb_header_is_the_apps_json_431(gunicorn):
    _json_error(_get(gunicorn, "/api/v1/accounts/", "X-Padding: " + "p" * 12000 + "\r\n"), 431, "header_too_large")


def test_beyond_gunicorns_limits_gunicorn_answers_itself(gunicorn):
    status, headers, _ = _get(gunicorn, "/api/v1/accounts/?cursor=" + "A" * 9000)
    assert status == 400 and "x-request-id" not in headers  # gunicorn's page: documented, not ours
    status, headers, _ = _get(gunicorn, "/api/v1/accounts/", "X-Padding: " + "p" * 17000 + "\r\n")
    assert status in (400, 431) and "x-request-id" not in headers


def test_an_ordinary_request_is_served(gunicorn):
    status, headers, _ = _get(gunicorn, "/api/v1/accounts/?cursor=" + "A" * 3000)
    assert status == 401 and headers["x-request-id"]
