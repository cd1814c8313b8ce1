"""docs/examples/tpp_example.py (the quickstart's runnable TPP) does the whole dance headless against a live server."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest

from consent.models import Consent
from tests.consent import flow

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "tpp_example.py"


def _example():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("tpp_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_example_connects_a_bank_approves_exchanges_and_reads_everything(live_server, alice, sandbox_banks, capsys):
    port = _free_port()
    tpp = flow.create_tpp(live_server.url, name="Example", redirect_uri=f"http://127.0.0.1:{port}/callback")

    status = _example().main(
        ["--base-url", live_server.url, "--client-id", tpp.client_id, "--client-secret", tpp.client_secret,
         "--callback-port", str(port), "--user", "alice", "--password", "alice-demo", "--bank", "albion",
         "--timeout", "30"]
    )  # fmt: skip

    out = capsys.readouterr().out
    assert status == 0, out
    assert "connecting the sandbox bank albion" in out and "approving at the bank's own page" in out
    assert "callback received the code" in out and "delta feed walked" in out and out.rstrip().endswith("done")
    consent = Consent.objects.get(application__client_id=tpp.client_id)
    assert consent.status == "authorised" and consent.user == alice and consent.accounts.exists()


def test_the_example_fails_loudly_when_the_user_cannot_log_in(live_server, alice, sandbox_banks, capsys):
    port = _free_port()
    tpp = flow.create_tpp(live_server.url, name="Example", redirect_uri=f"http://127.0.0.1:{port}/callback")
    status = _example().main(
        ["--base-url", live_server.url, "--client-id", tpp.client_id, "--client-secret", tpp.client_secret,
         "--callback-port", str(port), "--user", "alice", "--password", "wrong", "--timeout", "5"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 1 and "FAILED: the aggregator refused the login of 'alice'" in out
