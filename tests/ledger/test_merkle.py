"""The proof arithmetic (aggregator.ledger.merkle) against the independent RFC 9162 reference (tests/ledger/rfc9162):
every size 1..64 (all pairs), random sizes up to 10^6 over an in-memory store of subtree hashes."""

from __future__ import annotations

import random

import pytest

from aggregator.ledger import merkle

from . import rfc9162


def _store(levels):
    def fetch(keys):
        return {(level, i): levels[level][i] for level, i in keys}

    return fetch


@pytest.fixture(scope="module")
def small():
    leaves = [rfc9162.leaf_hash(f"leaf {i}".encode()) for i in range(64)]
    return rfc9162.levels_of(leaves)


@pytest.fixture(scope="module")
def big():
    n = 1_000_000
    leaves = [rfc9162.sha256(i.to_bytes(8, "big")) for i in range(n)]
    return rfc9162.levels_of(leaves)


def test_hashes_are_the_rfc_domain_separated_sha256():
    assert merkle.leaf_hash(b"x") == rfc9162.sha256(b"\x00x")
    assert merkle.node_hash(b"a", b"b") == rfc9162.sha256(b"\x01ab")
    assert merkle.root_hash(0, _store([])) == rfc9162.sha256(b"")


def test_every_root_of_sizes_1_to_64_matches_the_definition(small):
    for n in range(1, 65):
        assert merkle.root_hash(n, _store(small)) == rfc9162.mth(small, 0, n)


def test_every_inclusion_proof_of_sizes_1_to_64_verifies(small):
    for n in range(1, 65):
        root = rfc9162.mth(small, 0, n)
        for m in range(n):
            path = merkle.inclusion_proof(m, n, _store(small))
            assert rfc9162.verify_inclusion(m, n, small[0][m], path, root), (m, n)
            assert not rfc9162.verify_inclusion(m, n, small[0][(m + 1) % 64], path, root)


def test_every_consistency_proof_between_sizes_1_to_64_verifies(small):
    for second in range(1, 65):
        second_root = rfc9162.mth(small, 0, second)
        for first in range(1, second + 1):
            path = merkle.consistency_proof(first, second, _store(small))
            first_root = rfc9162.mth(small, 0, first)
            assert rfc9162.verify_consistency(first, second, first_root, second_root, path), (first, second)
            if first < second:
                assert not rfc9162.verify_consistency(first, second, bytes(32), second_root, path)


def test_a_proof_from_another_tree_fails(small):
    other = rfc9162.levels_of([rfc9162.leaf_hash(f"other {i}".encode()) for i in range(64)])
    path = merkle.inclusion_proof(5, 40, _store(other))
    assert not rfc9162.verify_inclusion(5, 40, small[0][5], path, rfc9162.mth(small, 0, 40))


def test_random_proofs_in_trees_up_to_a_million_leaves_verify(big):
    rng = random.Random(9162)
    fetch = _store(big)
    for _ in range(40):
        second = rng.randint(2, 1_000_000)
        first = rng.randint(1, second)
        m = rng.randrange(second)
        second_root = rfc9162.mth(big, 0, second)
        assert merkle.root_hash(second, fetch) == second_root
        path = merkle.inclusion_proof(m, second, fetch)
        assert len(path) <= 20
        assert rfc9162.verify_inclusion(m, second, big[0][m], path, second_root)
        proof = merkle.consistency_proof(first, second, fetch)
        assert rfc9162.verify_consistency(first, second, rfc9162.mth(big, 0, first), second_root, proof)


def test_completed_subtrees_are_the_aligned_blocks_an_append_finishes(small):
    frontier: list[bytes] = []
    for i in range(64):
        tz = ((i + 1) & -(i + 1)).bit_length() - 1
        done = merkle.completed_subtrees(i, small[0][i], frontier[len(frontier) - tz :][::-1])
        assert done == [small[level][((i + 1) >> level) - 1] for level in range(1, tz + 1)]
        del frontier[len(frontier) - tz :]
        frontier.append(done[-1] if done else small[0][i])
        assert frontier == [small[level][i] for level, i in merkle.frontier_keys(i + 1)]


def test_out_of_range_requests_are_refused(small):
    with pytest.raises(ValueError):
        merkle.inclusion_proof(5, 5, _store(small))
    with pytest.raises(ValueError):
        merkle.consistency_proof(0, 5, _store(small))
    with pytest.raises(ValueError):
        merkle.consistency_proof(6, 5, _store(small))
