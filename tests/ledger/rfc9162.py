"""An independent RFC 9162 reference for the tests, written from the RFC's text and nothing of ours:
MTH by the definition of §2.1.1 and the verification algorithms of §2.1.3.2 (inclusion) and §2.1.4.2
(consistency), step by step."""

from __future__ import annotations

import hashlib


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(leaf: bytes) -> bytes:
    return sha256(b"\x00" + leaf)


def levels_of(leaf_hashes: list[bytes]) -> list[list[bytes]]:
    """levels[l][i] = MTH of the aligned block of 2^l leaves starting at i·2^l (pairwise hashing)."""
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([sha256(b"\x01" + below[i] + below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return levels


def mth(levels: list[list[bytes]], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) by §2.1.1: split at the largest power of two k < n; aligned blocks read from ``levels``."""
    n = hi - lo
    if n == 0:
        return sha256(b"")
    if n & (n - 1) == 0 and lo % n == 0:
        return levels[n.bit_length() - 1][lo // n]
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01" + mth(levels, lo, lo + k) + mth(levels, lo + k, hi))


def verify_inclusion(leaf_index: int, tree_size: int, leaf_hash_: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash_
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes, path: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2 (first == second: an empty proof and equal roots)."""
    if first == second:
        return not path and first_hash == second_hash
    if not path or first > second or first == 0:
        return False
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = sha256(b"\x01" + c + fr)
            sr = sha256(b"\x01" + c + sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha256(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0
