"""The whole-log audit behind ``manage.py ledger_audit``: recompute every hash from the stored leaf bytes and
compare it with what is stored and with every signed checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from . import merkle
from .conf import ledger_settings
from .models import LedgerCheckpoint, LedgerLeaf
from .note import ledger_key, note_verify, parse_checkpoint

__all__ = ["AuditReport", "ledger_audit"]


@dataclass
class AuditReport:
    leaves: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)


def _leaves(chunk: int = 5000) -> Iterator[tuple[int, bytes, bytes, bytes]]:
    start = 0
    while True:
        rows = list(
            LedgerLeaf.objects.filter(index__gte=start)
            .order_by("index")
            .values_list("index", "leaf", "leaf_hash", "subtrees")[:chunk]
        )
        if not rows:
            return
        yield from ((i, bytes(leaf), bytes(h), bytes(s)) for i, leaf, h, s in rows)
        start = rows[-1][0] + 1


def ledger_audit() -> AuditReport:
    report = AuditReport()
    checkpoints = {cp.tree_size: cp for cp in LedgerCheckpoint.objects.all()}
    key = ledger_key()
    frontier: list[bytes] = []
    expected = 0
    for index, leaf, stored_hash, subtrees in _leaves():
        if index != expected:
            report.problems.append(f"gap: leaf {expected} missing (next stored is {index})")
            expected = index
        hashed = merkle.leaf_hash(leaf)
        if hashed != stored_hash:
            report.problems.append(f"leaf {index}: its bytes do not hash to its stored leaf hash")
        tz = ((index + 1) & -(index + 1)).bit_length() - 1
        done = merkle.completed_subtrees(index, hashed, frontier[len(frontier) - tz :][::-1])
        if b"".join(done) != subtrees:
            report.problems.append(f"leaf {index}: stored subtree hashes differ from the recomputed ones")
        del frontier[len(frontier) - tz :]
        frontier.append(done[-1] if done else hashed)
        expected += 1
        report.leaves += 1
        cp = checkpoints.get(expected)
        if cp is not None:
            root = frontier[-1]
            for h in reversed(frontier[:-1]):
                root = merkle.node_hash(h, root)
            _check_checkpoint(report, cp, root, key)
    for size in sorted(s for s in checkpoints if s > expected):
        report.problems.append(f"checkpoint {size}: the log has only {expected} leaves")
    return report


def _check_checkpoint(report: AuditReport, cp: LedgerCheckpoint, root: bytes, key) -> None:  # type: ignore[no-untyped-def]
    report.checkpoints += 1
    if bytes(cp.root_hash) != root:
        report.problems.append(f"checkpoint {cp.tree_size}: stored root differs from the recomputed tree")
    body = note_verify(cp.note, key.name, key.public)
    if body is None:
        report.problems.append(f"checkpoint {cp.tree_size}: signature does not verify with the current key")
        return
    origin, size, signed_root = parse_checkpoint(body)
    if (origin, size, signed_root) != (ledger_settings.ORIGIN, cp.tree_size, root):
        report.problems.append(f"checkpoint {cp.tree_size}: the signed note does not match the recomputed tree")
