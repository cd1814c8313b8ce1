"""The outbox, the sequencer and the stored tree: contiguous indexes, stored subtree hashes equal to the RFC 9162
definition, every proof of sizes 1..64 verified by the independent reference, and recovery after a worker dies
between the event's commit and the append."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import transaction

from aggregator.domain_events import DomainEvent, publish
from aggregator.ledger import merkle
from aggregator.ledger.models import LedgerCheckpoint, LedgerLeaf, LedgerOutbox
from aggregator.ledger.services import ledger_append_pending, ledger_checkpoint_create
from aggregator.ledger.tree import node_hashes, tree_consistency_proof, tree_inclusion_proof, tree_root, tree_size

from . import rfc9162
from .conftest import publish_events

pytestmark = pytest.mark.django_db


def _reference_levels() -> list[list[bytes]]:
    leaves = [bytes(raw) for raw in LedgerLeaf.objects.order_by("index").values_list("leaf", flat=True)]
    return rfc9162.levels_of([rfc9162.leaf_hash(leaf) for leaf in leaves])


def test_a_logged_event_is_one_outbox_row_and_other_events_none():
    publish(DomainEvent(name="sync.completed", subject_type="sync", subject_id="s1"))
    publish_events(1)
    assert LedgerOutbox.objects.count() == 1
    assert LedgerLeaf.objects.count() == 0


def test_an_event_of_a_rolled_back_change_is_never_logged():
    with pytest.raises(RuntimeError), transaction.atomic():
        publish_events(1)
        raise RuntimeError
    assert LedgerOutbox.objects.count() == 0


def test_appended_leaves_take_contiguous_indexes_in_outbox_order_and_leave_the_outbox_empty():
    events = publish_events(5)
    assert ledger_append_pending() == 5
    events += publish_events(3, start=5)
    assert ledger_append_pending() == 3
    assert ledger_append_pending() == 0
    leaves = list(LedgerLeaf.objects.order_by("index"))
    assert [leaf.index for leaf in leaves] == list(range(8))
    assert [leaf.event_id for leaf in leaves] == [e.event_id for e in events]
    assert not LedgerOutbox.objects.exists()


def test_stored_subtrees_and_every_proof_of_sizes_1_to_64_match_the_rfc():
    publish_events(64)
    for _ in range(3):  # several batches: the frontier is carried across transactions
        ledger_append_pending(limit=25)
    levels = _reference_levels()
    for level, row in enumerate(levels):
        keys = [(level, i) for i in range(len(row))]
        assert [node_hashes(keys)[k] for k in keys] == row
    for second in range(1, 65):
        root = tree_root(second)
        assert root == rfc9162.mth(levels, 0, second)
        for m in range(second):
            path = tree_inclusion_proof(m, second)
            assert rfc9162.verify_inclusion(m, second, levels[0][m], path, root)
        for first in range(1, second + 1):
            proof = tree_consistency_proof(first, second)
            assert rfc9162.verify_consistency(first, second, rfc9162.mth(levels, 0, first), root, proof)


def test_a_worker_dying_before_the_append_commits_loses_nothing_and_duplicates_nothing():
    publish_events(10)
    ledger_append_pending(limit=4)
    # The worker dies inside its transaction, after the leaves were inserted: nothing of it remains.
    dies = mock.patch("aggregator.ledger.services.ledger_checkpoint_if_due", side_effect=SystemExit)
    with dies, pytest.raises(SystemExit):
        ledger_append_pending()
    assert tree_size() == 4
    assert LedgerOutbox.objects.count() == 6
    # The sweep (or the next task) appends the rest: no gap, no duplicate.
    assert ledger_append_pending() == 6
    assert list(LedgerLeaf.objects.values_list("index", flat=True)) == list(range(10))
    assert LedgerLeaf.objects.values("event_id").distinct().count() == 10
    assert tree_root(10) == rfc9162.mth(_reference_levels(), 0, 10)


def test_an_event_already_logged_is_not_logged_twice():
    (event,) = publish_events(1)
    ledger_append_pending()
    LedgerOutbox.objects.create(
        event_id=event.event_id, name=event.name, subject_type="payment", subject_id="x", occurred_at=event.occurred_at
    )
    assert ledger_append_pending() == 0
    assert tree_size() == 1
    assert not LedgerOutbox.objects.exists()


def test_checkpoints_are_signed_every_n_leaves_and_for_the_first_leaf():
    publish_events(40)
    ledger_append_pending(limit=1)
    ledger_append_pending(limit=15)
    ledger_append_pending(limit=24)
    assert list(LedgerCheckpoint.objects.values_list("tree_size", flat=True)) == [1, 40]
    cp = LedgerCheckpoint.objects.get(tree_size=40)
    assert bytes(cp.root_hash) == tree_root(40)


def test_a_checkpoint_is_a_c2sp_signed_note_with_the_published_key_id():
    import base64
    import hashlib

    from aggregator.ledger.note import ledger_key, note_verify, parse_checkpoint

    publish_events(3)
    ledger_append_pending()
    cp = ledger_checkpoint_create(size=3)
    key = ledger_key()
    body, _, signature = cp.note.partition("\n\n")
    assert body.split("\n") == ["test.example/ledger", "3", base64.b64encode(tree_root(3)).decode()]
    dash, name, sig = signature.rstrip("\n").split(" ")
    assert (dash, name) == ("\u2014", "test.example/ledger")
    expected_id = hashlib.sha256(b"test.example/ledger\n\x01" + key.public).digest()[:4]
    assert base64.b64decode(sig)[:4] == expected_id
    assert parse_checkpoint(note_verify(cp.note, key.name, key.public)) == ("test.example/ledger", 3, tree_root(3))
    assert note_verify(cp.note.replace("\n3\n", "\n4\n"), key.name, key.public) is None


def test_the_root_of_an_empty_log_is_the_hash_of_nothing():
    assert tree_root(0) == merkle.EMPTY_ROOT
