"""The public ledger API: shapes, proofs that verify with the independent reference, JSON errors, no auth."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from aggregator.ledger.note import ledger_key
from aggregator.ledger.services import ledger_append_pending, ledger_checkpoint_create

from . import rfc9162
from .conftest import publish_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    return APIClient()


@pytest.fixture
def log():  # type: ignore[no-untyped-def]
    events = publish_events(21)
    for batch in (1, 16, 4):  # checkpoints at 1 (the first leaf) and 17 (16 leaves later), then 21 by hand
        ledger_append_pending(limit=batch)
    ledger_checkpoint_create(size=21)
    return events


def _b(text: str) -> bytes:
    return base64.b64decode(text)


def test_the_latest_checkpoint_is_served_without_authentication(client, log):
    body = client.get("/ledger/checkpoint").json()
    assert body["tree_size"] == 21
    assert body["checkpoint"].startswith(f"test.example/ledger\n21\n{body['root_hash']}\n\n\u2014 test.example/ledger ")


def test_checkpoints_by_size_and_all_of_them(client, log):
    assert [c["tree_size"] for c in client.get("/ledger/checkpoints").json()["checkpoints"]] == [1, 17, 21]
    assert client.get("/ledger/checkpoints?size=17").json()["checkpoints"][0]["tree_size"] == 17
    missing = client.get("/ledger/checkpoints?size=18")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"


def test_an_inclusion_proof_by_index_or_event_id_verifies_against_the_checkpoint(client, log):
    root = _b(client.get("/ledger/checkpoint").json()["root_hash"])
    by_index = client.get("/ledger/proof/inclusion?leaf_index=7").json()
    by_event = client.get(f"/ledger/proof/inclusion?event_id={log[7].event_id}").json()
    assert by_index == by_event
    leaf_hash = rfc9162.leaf_hash(_b(by_index["leaf"]))
    path = [_b(p) for p in by_index["inclusion_path"]]
    assert rfc9162.verify_inclusion(7, 21, leaf_hash, path, root)
    assert by_index["checkpoint"].startswith("test.example/ledger\n21\n")


def test_a_consistency_proof_links_two_checkpoints(client, log):
    first = _b(client.get("/ledger/checkpoints?size=17").json()["checkpoints"][0]["root_hash"])
    second = _b(client.get("/ledger/checkpoints?size=21").json()["checkpoints"][0]["root_hash"])
    proof = [_b(p) for p in client.get("/ledger/proof/consistency?first=17&second=21").json()["consistency_path"]]
    assert rfc9162.verify_consistency(17, 21, first, second, proof)


def test_leaves_are_paged_and_hold_canonical_json_without_personal_data(client, log, settings):
    settings.LEDGER = {**settings.LEDGER, "LEAVES_PAGE_MAX": 8}
    page = client.get("/ledger/leaves?start=0&end=21").json()
    assert [leaf["leaf_index"] for leaf in page["leaves"]] == list(range(8))
    assert page["next"] == "/ledger/leaves?start=8&end=21"
    leaf = _b(page["leaves"][3]["leaf"]).decode()
    assert leaf.startswith('{"commitments":{},"data":{"amount":"3.00"},"event":"payment.initiated","event_id":"')


@pytest.mark.parametrize(
    ("url", "field", "code"),
    [
        ("/ledger/proof/inclusion?leaf_index=21&tree_size=21", "leaf_index", "max_value"),
        ("/ledger/proof/inclusion?leaf_index=0&tree_size=22", "tree_size", "max_value"),
        ("/ledger/proof/inclusion?leaf_index=x", "leaf_index", "invalid"),
        ("/ledger/proof/inclusion", "leaf_index", "required"),
        ("/ledger/proof/consistency?first=5&second=4", "first", "max_value"),
        ("/ledger/proof/consistency?first=0&second=4", "first", "min_value"),
        ("/ledger/proof/consistency?first=1&second=99", "second", "max_value"),
        ("/ledger/proof/consistency?first=1", "second", "required"),
        ("/ledger/leaves?start=3&end=3", "end", "min_value"),
        ("/ledger/leaves?start=0&end=99", "end", "max_value"),
        ("/ledger/leaves?start=99999999999999999999999&end=1", "start", "max_value"),
    ],
)
def test_bad_queries_are_json_400s_naming_the_field(client, log, url, field, code):
    response = client.get(url)
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    assert (error["field"], error["code"]) == (field, code)


def test_an_unknown_event_id_is_a_404_and_no_checkpoint_yet_too(client):
    assert client.get("/ledger/checkpoint").status_code == 404
    response = client.get("/ledger/proof/inclusion?event_id=00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and response.json()["errors"][0]["code"] == "not_found"


def test_the_public_key_is_at_a_well_known_url_as_a_signed_note_verifier_key(client):
    body = client.get("/.well-known/ledger-keys").json()
    key = ledger_key()
    assert body["origin"] == "test.example/ledger"
    (published,) = body["keys"]
    encoded = base64.b64encode(b"\x01" + key.public).decode()
    assert published["vkey"] == f"test.example/ledger+{key.id.hex()}+{encoded}"
    assert _b(published["public_key"]) == key.public


def test_the_endpoints_are_throttled_per_client(client, log, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "ledger": "2/min"},
    }
    assert [client.get("/ledger/checkpoint").status_code for _ in range(3)] == [200, 200, 429]
