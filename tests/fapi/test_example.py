"""docs/examples/fapi2_client.py (the quickstart's FAPI 2.0 client) against a live server: the one real-HTTP run.

It registers nothing itself here (create_tpp's service is called with its key), connects alice's sandbox bank on
the consent screen reached through PAR, and reads the data with DPoP proofs."""

from __future__ import annotations

import json
import socket

import pytest
from joserfc.jwk import ECKey

from consent.models import AccessToken, Consent
from consent.tpp import tpp_create
from tests.fapi.conftest import load_example

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_fapi2_example_pushes_connects_a_bank_and_reads_with_dpop(
    live_server, alice, sandbox_banks, tmp_path, capsys
):
    port = _free_port()
    key = ECKey.generate_key("P-256", auto_kid=True)
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(key.as_dict(private=True)))
    app = tpp_create(
        name="Fapi Example", redirect_uris=[f"http://127.0.0.1:{port}/callback"], profile="fapi2",
        jwks={"keys": [key.as_dict(private=False)]},
    ).application  # fmt: skip

    status = load_example().main(
        ["--base-url", live_server.url, "--client-id", app.client_id, "--key", str(key_file),
         "--callback-port", str(port), "--user", "alice", "--password", "alice-demo", "--bank", "albion",
         "--timeout", "30"]
    )  # fmt: skip

    out = capsys.readouterr().out
    assert status == 0, out
    assert "pushed the authorization request: urn:ietf:params:oauth:request_uri:" in out
    assert "connecting the sandbox bank albion" in out and "read with DPoP proofs" in out
    assert out.rstrip().endswith("done")
    consent = Consent.objects.get(application=app)
    assert consent.status == "authorised" and consent.accounts.exists()
    assert set(AccessToken.objects.filter(application=app).values_list("jkt", flat=True)) - {""}
    assert not AccessToken.objects.filter(application=app, jkt="").exists()
