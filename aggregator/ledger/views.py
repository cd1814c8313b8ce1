"""The public ledger API: checkpoints, inclusion and consistency proofs, raw leaves, and the verifier key.

No authentication (nothing personal is in the log), throttled per client IP; errors in the API's JSON shape
(``aggregator.api.errors``). Hashes and leaves are standard base64, as in C2SP checkpoints.
"""

from __future__ import annotations

import base64
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aggregator.api.serializers import ErrorResponseSerializer
from aggregator.api.throttles import PublicRateThrottle

from .conf import ledger_settings
from .models import LedgerCheckpoint
from .note import ledger_key
from .selectors import checkpoint_at, checkpoint_latest, leaf_by_event_id, leaves_between
from .tree import tree_consistency_proof, tree_inclusion_proof, tree_size

__all__ = [
    "CheckpointListView",
    "CheckpointView",
    "ConsistencyProofView",
    "InclusionProofView",
    "LeavesView",
    "LedgerKeysView",
]

_MAX_INDEX = 2**62


_ERRORS = {
    400: OpenApiResponse(
        ErrorResponseSerializer, description="A query parameter is missing, malformed or out of range"
    ),
    404: OpenApiResponse(ErrorResponseSerializer, description="No such checkpoint or event (yet)"),
    429: OpenApiResponse(
        ErrorResponseSerializer, description="Throttled (API_THROTTLE_LEDGER per IP), see Retry-After"
    ),
}


def _errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {s: _ERRORS[s] for s in statuses}


def _b64(raw: bytes) -> str:
    return base64.b64encode(bytes(raw)).decode()


def _checkpoint(cp: LedgerCheckpoint) -> dict[str, Any]:
    return {
        "tree_size": cp.tree_size,
        "root_hash": _b64(cp.root_hash),
        "created_at": cp.created_at,
        "checkpoint": cp.note,
    }


class LedgerCheckpointSerializer(serializers.Serializer):
    tree_size = serializers.IntegerField()
    root_hash = serializers.CharField(help_text="base64 of the RFC 9162 root hash")
    created_at = serializers.DateTimeField()
    checkpoint = serializers.CharField(help_text="C2SP tlog-checkpoint signed note")


class _PublicView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicRateThrottle]


def _beyond(field: str, size: int) -> ValidationError:
    return ValidationError({field: [serializers.ErrorDetail(f"The log has {size} leaves.", code="max_value")]})


class CheckpointView(_PublicView):
    @extend_schema(
        tags=["ledger"],
        summary="The latest signed checkpoint",
        responses={200: LedgerCheckpointSerializer, **_errors(404, 429)},
    )
    def get(self, request: Request) -> Response:
        cp = checkpoint_latest()
        if cp is None:
            raise NotFound("The ledger has no checkpoint yet.")
        return Response(_checkpoint(cp))


class _ListQuery(serializers.Serializer):
    size = serializers.IntegerField(required=False, min_value=1, max_value=_MAX_INDEX)
    after = serializers.IntegerField(required=False, min_value=0, max_value=_MAX_INDEX, default=0)


class CheckpointListView(_PublicView):
    @extend_schema(
        tags=["ledger"],
        summary="Checkpoints: the one of tree size `size`, or all of them in size order (paged with `after`)",
        parameters=[_ListQuery],
        responses={
            200: inline_serializer(
                "LedgerCheckpointList",
                {"checkpoints": LedgerCheckpointSerializer(many=True), "next": serializers.CharField(allow_null=True)},
            ),
            **_errors(400, 404, 429),
        },
    )
    def get(self, request: Request) -> Response:
        query = _ListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        size = query.validated_data.get("size")
        if size is not None:
            cp = checkpoint_at(size=size)
            if cp is None:
                raise NotFound(f"No checkpoint of tree size {size}.")
            return Response({"checkpoints": [_checkpoint(cp)], "next": None})
        limit = int(ledger_settings.LEAVES_PAGE_MAX)
        page = list(LedgerCheckpoint.objects.filter(tree_size__gt=query.validated_data["after"])[: limit + 1])
        more = len(page) > limit
        page = page[:limit]
        nxt = f"{reverse('ledger-checkpoints')}?after={page[-1].tree_size}" if more else None
        return Response({"checkpoints": [_checkpoint(cp) for cp in page], "next": nxt})


class _InclusionQuery(serializers.Serializer):
    leaf_index = serializers.IntegerField(required=False, min_value=0, max_value=_MAX_INDEX)
    event_id = serializers.UUIDField(required=False)
    tree_size = serializers.IntegerField(required=False, min_value=1, max_value=_MAX_INDEX)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("leaf_index" in attrs) == ("event_id" in attrs):
            raise ValidationError(
                {"leaf_index": [serializers.ErrorDetail("Give leaf_index or event_id (one).", code="required")]}
            )
        return attrs


class InclusionProofView(_PublicView):
    @extend_schema(
        tags=["ledger"],
        summary="RFC 9162 inclusion proof of a leaf (by index or event id) in the tree of `tree_size` leaves",
        description="`tree_size` defaults to the latest checkpoint's.",
        parameters=[_InclusionQuery],
        responses={
            200: inline_serializer(
                "LedgerInclusionProof",
                {
                    "leaf_index": serializers.IntegerField(),
                    "tree_size": serializers.IntegerField(),
                    "leaf": serializers.CharField(help_text="base64 of the leaf's bytes (RFC 8785 JSON)"),
                    "leaf_hash": serializers.CharField(),
                    "inclusion_path": serializers.ListField(child=serializers.CharField()),
                    "checkpoint": serializers.CharField(allow_null=True),
                },
            ),
            **_errors(400, 404, 429),
        },
    )
    def get(self, request: Request) -> Response:
        query = _InclusionQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        if "event_id" in data:
            found = leaf_by_event_id(event_id=data["event_id"])
            if found is None:
                raise NotFound("No leaf for this event (yet).")
            index = found.index
        else:
            index = data["leaf_index"]
        size = data.get("tree_size")
        if size is None:  # the latest checkpoint's tree (never larger than the log): no other lookup needed
            cp = checkpoint_latest()
            size = cp.tree_size if cp else 0
        else:
            current = tree_size()
            if size > current:
                raise _beyond("tree_size", current)
            cp = checkpoint_at(size=size)
        if index >= size:
            raise ValidationError(
                {"leaf_index": [serializers.ErrorDetail(f"Leaf {index} is not in a tree of {size}.", code="max_value")]}
            )
        leaf = leaves_between(start=index, end=index + 1).only("leaf", "leaf_hash").get()
        return Response(
            {
                "leaf_index": index,
                "tree_size": size,
                "leaf": _b64(leaf.leaf),
                "leaf_hash": _b64(leaf.leaf_hash),
                "inclusion_path": [_b64(h) for h in tree_inclusion_proof(index, size)],
                "checkpoint": cp.note if cp else None,
            }
        )


class _ConsistencyQuery(serializers.Serializer):
    first = serializers.IntegerField(min_value=1, max_value=_MAX_INDEX)
    second = serializers.IntegerField(min_value=1, max_value=_MAX_INDEX)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["first"] > attrs["second"]:
            raise ValidationError(
                {"first": [serializers.ErrorDetail("first must not be larger than second.", code="max_value")]}
            )
        return attrs


class ConsistencyProofView(_PublicView):
    @extend_schema(
        tags=["ledger"],
        summary="RFC 9162 consistency proof between the trees of `first` and `second` leaves",
        parameters=[_ConsistencyQuery],
        responses={
            200: inline_serializer(
                "LedgerConsistencyProof",
                {
                    "first": serializers.IntegerField(),
                    "second": serializers.IntegerField(),
                    "consistency_path": serializers.ListField(child=serializers.CharField()),
                },
            ),
            **_errors(400, 429),
        },
    )
    def get(self, request: Request) -> Response:
        query = _ConsistencyQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        first, second = query.validated_data["first"], query.validated_data["second"]
        current = tree_size()
        if second > current:
            raise _beyond("second", current)
        path = tree_consistency_proof(first, second)
        return Response({"first": first, "second": second, "consistency_path": [_b64(h) for h in path]})


class _LeavesQuery(serializers.Serializer):
    start = serializers.IntegerField(min_value=0, max_value=_MAX_INDEX)
    end = serializers.IntegerField(min_value=1, max_value=_MAX_INDEX)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["start"] >= attrs["end"]:
            raise ValidationError(
                {"end": [serializers.ErrorDetail("end must be larger than start.", code="min_value")]}
            )
        return attrs


class LeavesView(_PublicView):
    @extend_schema(
        tags=["ledger"],
        summary="Raw leaves `start` ≤ index < `end` (at most LEAVES_PAGE_MAX; follow `next`)",
        parameters=[_LeavesQuery],
        responses={
            200: inline_serializer(
                "LedgerLeaves",
                {
                    "leaves": inline_serializer(
                        "LedgerLeaf",
                        {"leaf_index": serializers.IntegerField(), "leaf": serializers.CharField()},
                        many=True,
                    ),
                    "next": serializers.CharField(allow_null=True),
                },
            ),
            **_errors(400, 429),
        },
    )
    def get(self, request: Request) -> Response:
        query = _LeavesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        current = tree_size()
        if end > current:
            raise _beyond("end", current)
        stop = min(end, start + int(ledger_settings.LEAVES_PAGE_MAX))
        rows = leaves_between(start=start, end=stop)
        leaves = [{"leaf_index": leaf.index, "leaf": _b64(leaf.leaf)} for leaf in rows]
        nxt = f"{reverse('ledger-leaves')}?start={stop}&end={end}" if stop < end else None
        return Response({"leaves": leaves, "next": nxt})


class LedgerKeysView(_PublicView):
    @extend_schema(
        tags=["ledger"],
        summary="The public keys that sign the ledger's checkpoints",
        responses={
            200: inline_serializer(
                "LedgerKeys",
                {
                    "origin": serializers.CharField(),
                    "keys": inline_serializer(
                        "LedgerKey",
                        {
                            "name": serializers.CharField(),
                            "algorithm": serializers.CharField(),
                            "key_id": serializers.CharField(help_text="hex, 4 bytes (C2SP signed-note key ID)"),
                            "public_key": serializers.CharField(help_text="base64 of the raw Ed25519 key"),
                            "vkey": serializers.CharField(help_text="signed-note verifier key"),
                        },
                        many=True,
                    ),
                },
            ),
            **_errors(429),
        },
    )
    def get(self, request: Request) -> Response:
        key = ledger_key()
        return Response(
            {
                "origin": ledger_settings.ORIGIN,
                "keys": [
                    {
                        "name": key.name,
                        "algorithm": "Ed25519",
                        "key_id": key.id.hex(),
                        "public_key": _b64(key.public),
                        "vkey": key.vkey,
                    }
                ],
            }
        )
