#!/usr/bin/env python3
"""Verify the aggregator's tamper-evident ledger from the outside (standard library + ``cryptography`` only).

    python tools/ledger_verify.py BASE_URL [--state FILE] [--leaf N ...] [--vkey NAME+ID+KEY]

Fetches the signing key (``/.well-known/ledger-keys``, or ``--vkey``; pinned in the state file after first use),
every checkpoint (``/ledger/checkpoints``), checks each C2SP signed note, checks an RFC 9162 consistency proof
between every pair of consecutive checkpoints — those served now and those saved in ``--state`` by earlier runs —
and the inclusion of each ``--leaf`` in the latest checkpoint. Exit 0: consistent; 1: a fork, a rewrite or a bad
signature (each reported on stderr); 2: the log could not be read. The state file is updated only on success.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import sys
import urllib.error
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def fetch_json(url: str) -> dict:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (scheme checked)
    with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310
        return json.loads(r.read())


def verify_inclusion(index: int, size: int, leaf_hash: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _h(b"\x01" + p + r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _h(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, path: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2."""
    if first == second:
        return not path and first_root == second_root
    if not path or not 0 < first < second:
        return False
    if first & (first - 1) == 0:
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _h(b"\x01" + c + fr), _h(b"\x01" + c + sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _h(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


def parse_vkey(vkey: str) -> tuple[str, bytes, bytes]:
    """``name+hexid+base64(0x01‖key)`` → (name, key id, raw Ed25519 key), checking the id (C2SP signed-note)."""
    name, key_id, key = vkey.split("+", 2)  # the base64 key may itself contain "+"
    raw = base64.b64decode(key)
    if raw[:1] != b"\x01" or len(raw) != 33 or _h(name.encode() + b"\n" + raw)[:4] != bytes.fromhex(key_id):
        raise ValueError(f"not an Ed25519 signed-note verifier key: {vkey}")
    return name, bytes.fromhex(key_id), raw[1:]


def open_checkpoint(note: str, name: str, key_id: bytes, key: bytes, origin: str) -> tuple[int, bytes] | None:
    """(size, root) of a checkpoint note signed by the key and for the origin, else None."""
    body, sep, sigs = note.partition("\n\n")
    if not sep:
        return None
    body += "\n"
    for line in sigs.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != name:
            continue
        sig = base64.b64decode(parts[2])
        if sig[:4] != key_id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(sig[4:], body.encode())
        except InvalidSignature:
            continue
        lines = body.split("\n")
        if lines[0] != origin or not lines[1].isdigit():
            return None
        return int(lines[1]), base64.b64decode(lines[2])
    return None


def run(base: str, state_path: str | None, leaves: list[int], vkey: str | None, fetch=fetch_json) -> int:
    base = base.rstrip("/")
    problems: list[str] = []
    state = {"vkey": None, "checkpoints": {}}
    if state_path:
        try:
            with open(state_path) as f:
                state = json.load(f)
        except FileNotFoundError:
            pass
    try:
        if not vkey:
            published = fetch(f"{base}/.well-known/ledger-keys")
            vkey = state["vkey"] or published["keys"][0]["vkey"]
            if vkey not in [k["vkey"] for k in published["keys"]]:
                problems.append(f"KEY CHANGED: the log no longer publishes the pinned key {vkey}")
        name, key_id, key = parse_vkey(vkey)
        notes, url = [], f"{base}/ledger/checkpoints"
        while url:
            page = fetch(url)
            notes += [c["checkpoint"] for c in page["checkpoints"]]
            url = base + page["next"] if page["next"] else None
        seen: dict[int, bytes] = {int(s): base64.b64decode(r) for s, r in state["checkpoints"].items()}
        for note in notes:
            opened = open_checkpoint(note, name, key_id, key, origin=name)
            if opened is None:
                problems.append(f"BAD SIGNATURE or origin on checkpoint:\n{note}")
                continue
            size, root = opened
            if size in seen and seen[size] != root:
                problems.append(f"FORK: two different signed roots for tree size {size} (seen before, served now)")
            seen.setdefault(size, root)
        sizes = sorted(seen)
        for first, second in itertools.pairwise(sizes):
            try:
                proof = fetch(f"{base}/ledger/proof/consistency?first={first}&second={second}")["consistency_path"]
            except (urllib.error.HTTPError, KeyError) as exc:
                problems.append(f"REWRITE: no consistency proof from size {first} to {second} ({exc})")
                continue
            if not verify_consistency(first, second, seen[first], seen[second], [base64.b64decode(p) for p in proof]):
                problems.append(f"REWRITE: the tree of {second} leaves does not extend the tree of {first} leaves")
        latest = sizes[-1] if sizes else 0
        for index in leaves:
            got = fetch(f"{base}/ledger/proof/inclusion?leaf_index={index}&tree_size={latest}")
            raw = fetch(f"{base}/ledger/leaves?start={index}&end={index + 1}")["leaves"][0]["leaf"]
            leaf_hash = _h(b"\x00" + base64.b64decode(raw))
            path = [base64.b64decode(p) for p in got["inclusion_path"]]
            if got["leaf"] != raw or not verify_inclusion(index, latest, leaf_hash, path, seen[latest]):
                problems.append(f"TAMPERED: leaf {index} is not included in the signed tree of {latest} leaves")
            else:
                print(f"leaf {index} included in tree {latest}: {base64.b64decode(raw).decode()}")
    except (urllib.error.URLError, ValueError, KeyError, IndexError, TypeError) as exc:
        print(f"cannot read the ledger at {base}: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"OK: {len(seen)} checkpoints consistent, latest tree size {latest}, key {vkey}")
    if state_path:
        with open(state_path, "w") as f:
            json.dump({"vkey": vkey, "checkpoints": {s: base64.b64encode(r).decode() for s, r in seen.items()}}, f)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("--state", help="JSON file of the checkpoints seen so far (read, then updated)")
    parser.add_argument("--leaf", type=int, action="append", default=[], help="check inclusion of this leaf index")
    parser.add_argument("--vkey", help="the signed-note verifier key to trust instead of the published one")
    args = parser.parse_args(argv)
    return run(args.base_url, args.state, args.leaf, args.vkey)


if __name__ == "__main__":
    sys.exit(main())
