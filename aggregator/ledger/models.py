"""The ledger's tables: the outbox of events waiting for a leaf, the leaves (with the subtree hashes they
complete), the signed checkpoints, and the per-subject salts of the commitments to personal data.

Leaves and checkpoints are append-only; a salt row may be deleted (erasure) and nothing else changes.
"""

from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

__all__ = ["LedgerCheckpoint", "LedgerLeaf", "LedgerOutbox", "LedgerSalt"]


class LedgerOutbox(models.Model):
    """A domain event to be logged, written in the publisher's transaction; the sequencer turns it into a leaf and
    deletes it in one transaction."""

    event_id = models.UUIDField(unique=True)
    name = models.CharField(max_length=100)
    subject_type = models.CharField(max_length=50)
    subject_id = models.CharField(max_length=100)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"outbox {self.name} {self.subject_type}:{self.subject_id}"


class LedgerLeaf(models.Model):
    """Leaf ``index`` of the log. ``subtrees`` holds the hashes of the complete subtrees this leaf finished
    (levels 1…t, 32 bytes each, t = trailing zeros of index + 1): node (level, k) lives in leaf
    ``(k + 1) · 2^level - 1``, so one row per leaf stores the whole tree and appending is one INSERT."""

    index = models.BigIntegerField(primary_key=True)
    event_id = models.UUIDField(unique=True, default=uuid.uuid4)
    name = models.CharField(max_length=100)
    subject_type = models.CharField(max_length=50)
    subject_id = models.CharField(max_length=100)
    leaf = models.BinaryField(help_text="RFC 8785 canonical JSON, the exact bytes hashed")
    leaf_hash = models.BinaryField(max_length=32)
    subtrees = models.BinaryField(default=b"", blank=True)
    appended_at = models.DateTimeField()

    class Meta:
        ordering = ["index"]
        indexes = [models.Index(fields=["subject_type", "subject_id"], name="ledgerleaf_subject_idx")]

    def __str__(self) -> str:
        return f"leaf {self.index} {self.name}"


class LedgerCheckpoint(models.Model):
    """A signed tree head (C2SP tlog-checkpoint signed note), kept forever."""

    tree_size = models.BigIntegerField(primary_key=True)
    root_hash = models.BinaryField(max_length=32)
    note = models.TextField(help_text="The signed note exactly as served")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["tree_size"]

    def __str__(self) -> str:
        return f"checkpoint {self.tree_size}"


class LedgerSalt(models.Model):
    """The secret salt of every commitment to one subject's personal data (``user:<pk>``). Deleting it (erasure)
    leaves the commitments in the log unlinkable to the person; the tree is untouched."""

    subject = models.CharField(max_length=100, unique=True)
    salt = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"salt of {self.subject}"
