"""The transaction list's query: the fast path for a plain page_size/cursor agrees with the serializer."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from aggregator.api.serializers import TransactionQuerySerializer, transaction_query

CURSOR = "eyJkIjoiMjAyNi0wNi0zMCIsImkiOjEyfQ-_xyz"

QUERIES = [
    "",
    "page_size=100",
    "page_size=1",
    "page_size=500",
    "page_size=501",
    "page_size=0",
    "page_size=007",
    "page_size=100.0",
    "page_size=+5",
    "page_size=%2010",
    "page_size=",
    "page_size=abc",
    "page_size=1000",
    "page_size=5&page_size=7",
    f"cursor={CURSOR}",
    f"cursor={CURSOR}&page_size=50",
    "cursor=",
    "cursor=%20abc",
    "cursor=abc%00",
    "cursor=ab+cd",
    "cursor=" + "a" * 512,
    "cursor=" + "a" * 513,
    "status=booked",
    "page_size=20&status=pending&booked_from=2026-01-01",
    "page_size=20&unknown=1",
]


def _serializer(params: QueryDict):  # type: ignore[no-untyped-def]
    serializer = TransactionQuerySerializer(data=params)
    if not serializer.is_valid():
        return ("error", serializer.errors)
    return ("ok", dict(serializer.validated_data))


def _fast(params: QueryDict):  # type: ignore[no-untyped-def]
    try:
        return ("ok", transaction_query(params))
    except ValidationError as exc:
        return ("error", exc.detail)


@pytest.mark.parametrize("query", QUERIES)
def test_the_fast_path_gives_what_the_serializer_gives(query):
    params = QueryDict(query)
    assert _fast(params) == _serializer(params)


def test_the_everyday_query_does_not_build_a_serializer(monkeypatch):
    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("serializer used")

    monkeypatch.setattr(TransactionQuerySerializer, "__init__", refuse)
    assert transaction_query(QueryDict(f"page_size=100&cursor={CURSOR}")) == {"page_size": 100, "cursor": CURSOR}
    assert transaction_query(QueryDict("")) == {"page_size": 100}
