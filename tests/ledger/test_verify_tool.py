"""tools/ledger_verify.py against the live API (Django's test client as its HTTP): an honest log passes and is
remembered; a tampered leaf, a removed leaf, reordered leaves and a rewritten, re-signed history are each reported;
``manage.py ledger_audit`` finds the same from the inside."""

from __future__ import annotations

import importlib.util
import json
import urllib.error
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from aggregator.ledger.models import LedgerCheckpoint, LedgerLeaf, LedgerOutbox
from aggregator.ledger.services import ledger_append_pending, ledger_checkpoint_create

from .conftest import publish_events

pytestmark = pytest.mark.django_db

BASE = "http://testserver"
_spec = importlib.util.spec_from_file_location(
    "ledger_verify", Path(__file__).resolve().parents[2] / "tools" / "ledger_verify.py"
)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def _fetch(url: str) -> dict:
    response = Client().get(url.removeprefix(BASE))
    if response.status_code != 200:
        raise urllib.error.HTTPError(url, response.status_code, response.reason_phrase, {}, None)
    return response.json()


def verify(state: Path, *leaves: int, capsys=None) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code = tool.run(BASE, str(state), list(leaves), None, fetch=_fetch)
    out = capsys.readouterr() if capsys else None
    return code, (out.out + out.err) if out else ""


@pytest.fixture
def state(tmp_path):  # type: ignore[no-untyped-def]
    return tmp_path / "ledger-state.json"


@pytest.fixture
def honest(state, capsys):  # type: ignore[no-untyped-def]
    """20 events with checkpoints at 1, 17 and 20, verified once (the state file remembers them)."""
    publish_events(20)
    for batch in (1, 16, 3):
        ledger_append_pending(limit=batch)
    ledger_checkpoint_create(size=20)
    code, out = verify(state, 3, capsys=capsys)
    assert code == 0, out
    assert "leaf 3 included in tree 20" in out
    return state


def _rewrite(order: list[bytes]) -> None:
    """History rewritten from the given leaf documents and every checkpoint signed again with the real key."""
    sizes = list(LedgerCheckpoint.objects.values_list("tree_size", flat=True))
    documents = [json.loads(raw) for raw in order]
    LedgerLeaf.objects.all().delete()
    LedgerCheckpoint.objects.all().delete()
    for doc in documents:
        LedgerOutbox.objects.create(
            event_id=doc["event_id"],
            name=doc["event"],
            subject_type=doc["subject"]["type"],
            subject_id=doc["subject"]["id"],
            data=doc["data"],
            occurred_at=doc["occurred_at"],
        )
    ledger_append_pending()
    LedgerCheckpoint.objects.all().delete()
    for size in sizes:
        if size <= len(documents):
            ledger_checkpoint_create(size=size)


def _leaves() -> list[bytes]:
    return [bytes(raw) for raw in LedgerLeaf.objects.order_by("index").values_list("leaf", flat=True)]


def test_a_growing_honest_log_verifies_again_from_the_saved_state(honest, capsys):
    publish_events(5, start=20)
    ledger_append_pending()
    ledger_checkpoint_create(size=25)
    code, out = verify(honest, 22, capsys=capsys)
    assert code == 0, out
    assert sorted(int(s) for s in json.loads(honest.read_text())["checkpoints"]) == [1, 17, 20, 25]


def test_a_tampered_leaf_is_reported(honest, capsys):
    leaf = LedgerLeaf.objects.get(index=3)
    LedgerLeaf.objects.filter(index=3).update(leaf=bytes(leaf.leaf).replace(b'"3.00"', b'"300.00"'))
    code, out = verify(honest, 3, capsys=capsys)
    assert code == 1 and "TAMPERED: leaf 3" in out
    with pytest.raises(CommandError):
        call_command("ledger_audit")


def test_a_removed_leaf_is_reported_even_when_the_history_is_resigned(honest, capsys):
    leaves = _leaves()
    _rewrite(leaves[:5] + leaves[6:])
    call_command("ledger_audit")  # internally consistent: only an outside observer can tell
    code, out = verify(honest, capsys=capsys)
    assert code == 1
    assert "FORK: two different signed roots for tree size 17" in out
    assert "REWRITE" in out
    assert json.loads(honest.read_text())["checkpoints"].keys() == {"1", "17", "20"}  # state not overwritten


def test_reordered_leaves_are_reported(honest, capsys):
    leaves = _leaves()
    leaves[7], leaves[8] = leaves[8], leaves[7]
    _rewrite(leaves)
    code, out = verify(honest, capsys=capsys)
    assert code == 1 and "FORK: two different signed roots for tree size 17" in out


def test_a_rewritten_tail_after_the_last_seen_checkpoint_is_reported_as_a_rewrite(honest, capsys):
    leaves = _leaves()
    changed = leaves[19].replace(b'"19.00"', b'"0.01"')
    _rewrite([*leaves[:19], changed])
    LedgerCheckpoint.objects.filter(tree_size=20).delete()  # hide the forked checkpoint: a new one at 21 instead
    publish_events(1, start=100)
    ledger_append_pending()
    ledger_checkpoint_create(size=21)
    code, out = verify(honest, capsys=capsys)
    assert code == 1 and "REWRITE: the tree of 21 leaves does not extend the tree of 20 leaves" in out


def test_a_checkpoint_signed_by_another_key_is_reported(honest, capsys, settings):
    settings.LEDGER = {**settings.LEDGER, "SIGNING_KEY": "A" * 43 + "="}
    publish_events(1, start=50)
    ledger_append_pending()
    ledger_checkpoint_create(size=21)
    code, out = verify(honest, capsys=capsys)
    assert code == 1 and "KEY CHANGED" in out and "BAD SIGNATURE" in out


def test_an_unreachable_log_exits_2(state, capsys):
    assert tool.run("http://127.0.0.1:1", str(state), [], None) == 2


def test_a_verifier_key_whose_base64_contains_a_plus_is_read():
    """Standard base64 has '+': the vkey splits on the first two '+' only (name and key id never contain one)."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from aggregator.ledger.note import LedgerKey

    for n in range(1000):
        private = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"plus %d" % n).digest())
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        key = LedgerKey(name="bench.example/ledger", private=private, public=public)
        if "+" in key.vkey.split("+", 2)[2]:
            break
    else:
        pytest.fail("no key with a '+' in its base64 among 1000")
    assert tool.parse_vkey(key.vkey) == (key.name, key.id, public)
