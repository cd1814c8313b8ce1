"""RFC 9162 §2.1 Merkle tree arithmetic over stored subtree hashes: no database, no Django.

Hashes: ``leaf_hash = SHA-256(0x00 ‖ leaf)``, ``node_hash = SHA-256(0x01 ‖ left ‖ right)``. A tree of ``n``
leaves splits at ``k``, the largest power of two smaller than ``n`` (§2.1.1), so every left subtree met on the
way down is *complete and aligned*: ``2^level`` leaves starting at ``index * 2^level``. Such a subtree never
changes once its last leaf is appended; the ledger stores each one's hash once, and any root, inclusion path
(§2.1.3.1) or consistency proof (§2.1.4.1) needs O(log n) of them.

A ``NodeKey`` is ``(level, index)``. Each algorithm here runs twice: once with a recording getter to learn
which nodes it needs (so the caller fetches them in one query), then with their hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "EMPTY_ROOT",
    "NodeKey",
    "completed_subtrees",
    "consistency_proof",
    "frontier_keys",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_hash",
]

NodeKey = tuple[int, int]
Getter = Callable[[int, int], bytes]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_hash(get: Getter, lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for ``lo`` aligned on the largest power of two ≤ hi - lo (true for every range RFC 9162's
    recursions visit): the complete subtrees of the binary decomposition of the size, folded right to left."""
    size = hi - lo
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return get(level, lo >> level)
    k = _split(size)
    return node_hash(_range_hash(get, lo, lo + k), _range_hash(get, lo + k, hi))


def _path(get: Getter, m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi]) of RFC 9162 §2.1.3.1, ``m`` relative to ``lo``."""
    n = hi - lo
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(get, m, lo, lo + k), _range_hash(get, lo + k, hi)]
    return [*_path(get, m - k, lo + k, hi), _range_hash(get, lo, lo + k)]


def _subproof(get: Getter, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b) of RFC 9162 §2.1.4.1."""
    n = hi - lo
    if m == n:
        return [] if complete else [_range_hash(get, lo, hi)]
    k = _split(n)
    if m <= k:
        return [*_subproof(get, m, lo, lo + k, complete), _range_hash(get, lo + k, hi)]
    return [*_subproof(get, m - k, lo + k, hi, False), _range_hash(get, lo, lo + k)]


def _two_pass(run: Callable[[Getter], list[bytes]], fetch: Callable[[Iterable[NodeKey]], Mapping[NodeKey, bytes]]):
    needed: list[NodeKey] = []
    run(lambda level, index: needed.append((level, index)) or b"")
    hashes = fetch(dict.fromkeys(needed))
    return run(lambda level, index: hashes[(level, index)])


def root_hash(size: int, fetch: Callable[[Iterable[NodeKey]], Mapping[NodeKey, bytes]]) -> bytes:
    """MTH(D[0:size]); ``fetch(keys)`` returns the stored hash of every requested node."""
    if size == 0:
        return EMPTY_ROOT
    return _two_pass(lambda get: [_range_hash(get, 0, size)], fetch)[0]


def inclusion_proof(
    index: int, size: int, fetch: Callable[[Iterable[NodeKey]], Mapping[NodeKey, bytes]]
) -> list[bytes]:
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    return _two_pass(lambda get: _path(get, index, 0, size), fetch)


def consistency_proof(
    first: int, second: int, fetch: Callable[[Iterable[NodeKey]], Mapping[NodeKey, bytes]]
) -> list[bytes]:
    if not 0 < first <= second:
        raise ValueError("need 0 < first <= second")
    if first == second:
        return []
    return _two_pass(lambda get: _subproof(get, first, 0, second, True), fetch)


def frontier_keys(size: int) -> list[NodeKey]:
    """The complete subtrees of a tree of ``size`` leaves, left to right (one per set bit of ``size``)."""
    keys, lo = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            keys.append((level, lo >> level))
            lo += 1 << level
    return keys


def completed_subtrees(index: int, leaf: bytes, left_siblings: list[bytes]) -> list[bytes]:
    """Hashes of the subtrees of level ≥ 1 completed by appending leaf ``index`` with hash ``leaf``, lowest level
    first. ``left_siblings`` is the frontier before the append, right to left (the last complete subtree first)."""
    out, current = [], leaf
    for level in range(1, ((index + 1) & -(index + 1)).bit_length()):
        current = node_hash(left_siblings[level - 1], current)
        out.append(current)
    return out
