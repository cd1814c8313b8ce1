"""Reading the ledger for the public API, the consent resource, payments and the audit command."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from .models import LedgerCheckpoint, LedgerLeaf

__all__ = [
    "checkpoint_at",
    "checkpoint_latest",
    "leaf_by_event_id",
    "leaves_between",
    "ledger_leaf_indexes_for",
    "ledger_leaf_indexes_for_many",
]


def checkpoint_latest() -> LedgerCheckpoint | None:
    return LedgerCheckpoint.objects.order_by("-tree_size").first()


def checkpoint_at(*, size: int) -> LedgerCheckpoint | None:
    return LedgerCheckpoint.objects.filter(tree_size=size).first()


def leaf_by_event_id(*, event_id: uuid.UUID) -> LedgerLeaf | None:
    return LedgerLeaf.objects.filter(event_id=event_id).only("index").first()


def leaves_between(*, start: int, end: int) -> QuerySet[LedgerLeaf]:
    """Leaves ``start ≤ index < end`` in order."""
    return LedgerLeaf.objects.filter(index__gte=start, index__lt=end).order_by("index").only("index", "leaf")


def ledger_leaf_indexes_for(*, subject_type: str, subject_id: str) -> list[dict[str, object]]:
    """``[{"event", "leaf_index"}]`` of every appended leaf about one subject (a consent, a payment), in log
    order. Events still in the outbox are not listed yet."""
    rows = (
        LedgerLeaf.objects.filter(subject_type=subject_type, subject_id=subject_id)
        .order_by("index")
        .values_list("name", "index")
    )
    return [{"event": name, "leaf_index": index} for name, index in rows]


def ledger_leaf_indexes_for_many(*, subject_type: str, subject_ids: list[str]) -> dict[str, list[dict[str, object]]]:
    """:func:`ledger_leaf_indexes_for` of many subjects in one query."""
    out: dict[str, list[dict[str, object]]] = {s: [] for s in subject_ids}
    rows = (
        LedgerLeaf.objects.filter(subject_type=subject_type, subject_id__in=subject_ids)
        .order_by("index")
        .values_list("subject_id", "name", "index")
    )
    for subject_id, name, index in rows:
        out[subject_id].append({"event": name, "leaf_index": index})
    return out
