"""Writing the ledger: the outbox row of an event, the sequencer that appends outbox rows as leaves, signed
checkpoints, and the erasure of a person's salt.

The sequencer is the only writer of leaves. It runs under a transaction-scoped PostgreSQL advisory lock (on
SQLite the database's single writer does the same), reads the outbox in id order, builds each leaf, computes the
subtree hashes it completes from the frontier (the right edge of the tree: one hash per set bit of the size),
inserts the leaves and deletes their outbox rows in the same transaction: a worker that dies anywhere before
the commit leaves the outbox as it was, and the next run appends the same events — no gap, no duplicate index.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from aggregator.domain_events import DomainEvent
from consent.models import Consent, ConsentEvent

from . import merkle
from .conf import ledger_settings
from .leaves import leaf_bytes
from .models import LedgerCheckpoint, LedgerLeaf, LedgerOutbox, LedgerSalt
from .note import checkpoint_body, ledger_key, note_sign
from .tree import node_hashes, tree_root, tree_size

__all__ = [
    "ADVISORY_LOCK_KEY",
    "ledger_append_pending",
    "ledger_checkpoint_create",
    "ledger_checkpoint_if_due",
    "ledger_event_enqueue",
    "ledger_event_is_logged",
    "ledger_salt_erase",
]

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the sequencer ("ledg").
ADVISORY_LOCK_KEY = 0x6C656467


def ledger_event_is_logged(name: str) -> bool:
    wanted = ledger_settings.EVENTS
    return any(name == w or (w.endswith(".") and name.startswith(w)) for w in wanted)


def ledger_event_enqueue(*, event: DomainEvent) -> LedgerOutbox:
    """One INSERT in the publisher's transaction: the event is logged if and only if its change commits."""
    return LedgerOutbox.objects.create(
        event_id=event.event_id,
        name=event.name,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        data=dict(event.data),
        occurred_at=event.occurred_at,
    )


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])


def _users_of(rows: list[LedgerOutbox]) -> dict[tuple[str, str], str]:
    """``(subject_type, subject_id) → "user:<pk>"`` for subjects that belong to a person."""
    consent_ids = {r.subject_id for r in rows if r.subject_type == "consent"}
    out: dict[tuple[str, str], str] = {}
    if consent_ids:
        for pk, user_id in Consent.objects.filter(pk__in=consent_ids, user__isnull=False).values_list("pk", "user_id"):
            out[("consent", str(pk))] = f"user:{user_id}"
    for r in rows:
        user_id = r.data.get("user_id") if isinstance(r.data, dict) else None
        if user_id is not None and (r.subject_type, r.subject_id) not in out:
            out[(r.subject_type, r.subject_id)] = f"user:{user_id}"
    return out


def _salts(subjects: Iterable[str]) -> dict[str, bytes]:
    wanted = set(subjects)
    salts = {s: bytes(v) for s, v in LedgerSalt.objects.filter(subject__in=wanted).values_list("subject", "salt")}
    missing = [LedgerSalt(subject=s, salt=secrets.token_bytes(32)) for s in sorted(wanted - salts.keys())]
    LedgerSalt.objects.bulk_create(missing)
    salts.update({m.subject: bytes(m.salt) for m in missing})
    return salts


def _frontier(size: int) -> list[bytes]:
    keys = merkle.frontier_keys(size)
    hashes = node_hashes(keys)
    return [hashes[k] for k in keys]


@transaction.atomic
def ledger_append_pending(*, limit: int | None = None) -> int:
    """Append up to ``limit`` (``APPEND_BATCH``) outbox rows as leaves; the number appended. Idempotent."""
    _lock()
    batch = limit or int(ledger_settings.APPEND_BATCH)
    rows = list(LedgerOutbox.objects.order_by("id")[:batch])
    if not rows:
        return 0
    already = set(LedgerLeaf.objects.filter(event_id__in=[r.event_id for r in rows]).values_list("event_id", flat=True))
    users = _users_of(rows)
    salts = _salts(users.values())
    size = tree_size()
    frontier = _frontier(size)
    now = timezone.now()
    leaves: list[LedgerLeaf] = []
    for row in rows:
        if row.event_id in already:  # defensive: an event is never logged twice
            continue
        already.add(row.event_id)
        user = users.get((row.subject_type, row.subject_id))
        raw = leaf_bytes(
            event_id=str(row.event_id),
            name=row.name,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            occurred_at=row.occurred_at,
            logged_at=now,
            data=row.data if isinstance(row.data, dict) else {"value": row.data},
            user_key=user,
            salt=salts.get(user) if user else None,
        )
        index = size + len(leaves)
        hashed = merkle.leaf_hash(raw)
        completed_levels = ((index + 1) & -(index + 1)).bit_length() - 1
        siblings = frontier[len(frontier) - completed_levels :][::-1]
        completed = merkle.completed_subtrees(index, hashed, siblings)
        del frontier[len(frontier) - completed_levels :]
        frontier.append(completed[-1] if completed else hashed)
        leaves.append(
            LedgerLeaf(
                index=index,
                event_id=row.event_id,
                name=row.name,
                subject_type=row.subject_type,
                subject_id=row.subject_id,
                leaf=raw,
                leaf_hash=hashed,
                subtrees=b"".join(completed),
                appended_at=now,
            )
        )
    LedgerLeaf.objects.bulk_create(leaves)
    LedgerOutbox.objects.filter(pk__in=[r.pk for r in rows]).delete()
    _link_consent_events(leaves)
    ledger_checkpoint_if_due(size=size + len(leaves), now=now)
    return len(leaves)


def _link_consent_events(leaves: list[LedgerLeaf]) -> None:
    """The consent's own audit trail shows where each of its events sits in the log (the dashboard's "verify"):
    one SELECT, and one UPDATE for the few leaves that are ConsentEvent rows (not data access, not tokens)."""
    index_of = {leaf.event_id: leaf.index for leaf in leaves if leaf.subject_type == "consent"}
    if not index_of:
        return
    rows = list(ConsentEvent.objects.filter(event_id__in=index_of).only("pk", "event_id"))
    for row in rows:
        row.ledger_leaf_index = index_of[row.event_id]
    ConsentEvent.objects.bulk_update(rows, ["ledger_leaf_index"])


@transaction.atomic
def ledger_checkpoint_create(*, size: int | None = None, now: dt.datetime | None = None) -> LedgerCheckpoint:
    """Sign the tree head at ``size`` (default: the whole tree). Idempotent per size."""
    _lock()
    current = tree_size()
    size = current if size is None else size
    if not 0 < size <= current:
        raise ValueError(f"cannot sign a tree of {size} leaves: the log has {current}")
    existing = LedgerCheckpoint.objects.filter(tree_size=size).first()
    if existing is not None:
        return existing
    root = tree_root(size)
    key = ledger_key()
    note = note_sign(checkpoint_body(ledger_settings.ORIGIN, size, root), key)
    return LedgerCheckpoint.objects.create(tree_size=size, root_hash=root, note=note, created_at=now or timezone.now())


@transaction.atomic
def ledger_checkpoint_if_due(*, size: int | None = None, now: dt.datetime | None = None) -> LedgerCheckpoint | None:
    """A new checkpoint when ``CHECKPOINT_EVERY_LEAVES`` leaves were appended since the last one, or when the tree
    grew and the last one is ``CHECKPOINT_EVERY_SECONDS`` old (the first leaf is always checkpointed)."""
    _lock()  # the sequencer's lock (re-entrant within its transaction): one signer at a time
    size = tree_size() if size is None else size
    now = now or timezone.now()
    last = LedgerCheckpoint.objects.order_by("-tree_size").first()
    if size == 0 or (last is not None and last.tree_size >= size):
        return None
    grown = size - (last.tree_size if last else 0)
    age = (now - last.created_at).total_seconds() if last else float("inf")
    if (
        last is None
        or grown >= int(ledger_settings.CHECKPOINT_EVERY_LEAVES)
        or age >= float(ledger_settings.CHECKPOINT_EVERY_SECONDS)
    ):
        return ledger_checkpoint_create(size=size, now=now)
    return None


@transaction.atomic
def ledger_salt_erase(*, user_id: int) -> bool:
    """Erasure (GDPR art. 17): forget the salt of a user's commitments. The leaves stay, unlinkable."""
    deleted, _ = LedgerSalt.objects.filter(subject=f"user:{user_id}").delete()
    return bool(deleted)
