"""Reading the stored tree: its size, the hash of any complete subtree, roots and proofs (O(log n) rows, one
query), and the frontier the sequencer extends."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Max

from . import merkle
from .models import LedgerLeaf

__all__ = ["node_hashes", "tree_consistency_proof", "tree_inclusion_proof", "tree_root", "tree_size"]

HASH = 32


def tree_size() -> int:
    top = LedgerLeaf.objects.aggregate(top=Max("index"))["top"]
    return 0 if top is None else top + 1


def _row_of(level: int, index: int) -> int:
    """The leaf row holding node (level, index): the last leaf of that subtree."""
    return ((index + 1) << level) - 1


def node_hashes(keys: Iterable[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
    """The hash of every complete subtree in ``keys``; KeyError-free only for subtrees that exist."""
    keys = list(keys)
    rows = {
        index: (bytes(leaf_hash), bytes(subtrees))
        for index, leaf_hash, subtrees in LedgerLeaf.objects.filter(
            index__in={_row_of(level, i) for level, i in keys}
        ).values_list("index", "leaf_hash", "subtrees")
    }
    out = {}
    for level, i in keys:
        row = rows.get(_row_of(level, i))
        if row is None:
            continue
        out[(level, i)] = row[0] if level == 0 else row[1][(level - 1) * HASH : level * HASH]
    return out


def tree_root(size: int) -> bytes:
    return merkle.root_hash(size, node_hashes)


def tree_inclusion_proof(index: int, size: int) -> list[bytes]:
    return merkle.inclusion_proof(index, size, node_hashes)


def tree_consistency_proof(first: int, second: int) -> list[bytes]:
    return merkle.consistency_proof(first, second, node_hashes)
