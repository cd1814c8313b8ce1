"""Checkpoints as C2SP signed notes (c2sp.org/tlog-checkpoint, c2sp.org/signed-note), Ed25519 only.

A checkpoint body is three lines — the origin, the tree size in decimal, the standard base64 of the root hash —
each ending in a newline. The note is the body, one blank line, and one signature line per signer:
``— <key name> <base64(key id ‖ signature)>``; the signature is Ed25519 over the body's bytes and the key id is
the first four bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key) (0x01: the Ed25519 signature type). The
verifier key is published as ``<name>+<key id, 8 hex digits>+<base64(0x01 ‖ public key)>`` (Go's ``note`` vkey).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings

from .conf import ledger_settings

__all__ = [
    "LedgerKey",
    "checkpoint_body",
    "key_id",
    "ledger_key",
    "note_sign",
    "note_verify",
    "parse_checkpoint",
]

ED25519 = b"\x01"
EM_DASH = "\u2014"


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


@dataclass(frozen=True)
class LedgerKey:
    name: str
    private: Ed25519PrivateKey
    public: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.public)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.id.hex()}+{base64.b64encode(ED25519 + self.public).decode()}"


@lru_cache(maxsize=4)
def _key(name: str, seed_b64: str, secret_key: str) -> LedgerKey:
    if seed_b64:
        seed = base64.b64decode(seed_b64, validate=True)
        if len(seed) != 32:
            raise ValueError("LEDGER_SIGNING_KEY must be the base64 of a 32-byte Ed25519 seed")
    else:  # local and test runs: stable per checkout, never used in production (settings refuse it)
        seed = hashlib.sha256(b"ledger-signing-key\x00" + secret_key.encode()).digest()
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return LedgerKey(name=name, private=private, public=public)


def ledger_key() -> LedgerKey:
    """The signing key named after the log's origin (the C2SP convention)."""
    return _key(ledger_settings.ORIGIN, ledger_settings.SIGNING_KEY, settings.SECRET_KEY)


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def note_sign(body: str, key: LedgerKey) -> str:
    signature = key.private.sign(body.encode())
    return f"{body}\n{EM_DASH} {key.name} {base64.b64encode(key.id + signature).decode()}\n"


def note_verify(note: str, name: str, public_key: bytes) -> str | None:
    """The body of ``note`` if it carries a valid signature by (name, public_key), else None."""
    body, sep, signatures = note.partition("\n\n")
    if not sep:
        return None
    body += "\n"
    wanted = key_id(name, public_key)
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH or parts[1] != name:
            continue
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if raw[:4] != wanted:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(raw[4:], body.encode())
        except InvalidSignature:
            continue
        return body
    return None


def parse_checkpoint(body: str) -> tuple[str, int, bytes]:
    """(origin, tree size, root hash) of a checkpoint body."""
    lines = body.split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise ValueError("not a checkpoint")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise ValueError("root hash is not 32 bytes")
    return lines[0], int(lines[1]), root
