"""The enrichment writer's array literals: what PostgreSQL reads back is exactly what was sent."""

from __future__ import annotations

import pytest
from django.db import connection

from aggregator.insights.store import _numbers, _texts

AWKWARD = ["plain", 'with "quotes"', "back\\slash", "comma, brace {x}", "NULL", "", "ünïcode"]


def test_texts_quote_every_element_and_escape_quotes_and_backslashes() -> None:
    assert _texts(['a"b', "c\\d"]) == '{"a\\"b","c\\\\d"}'


def test_numbers_print_none_as_null() -> None:
    assert _numbers([1, None, 0.25]) == "{1,NULL,0.25}"


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="array literals are the PostgreSQL writer's")
def test_postgresql_reads_back_the_texts_sent() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::varchar[]", [_texts(AWKWARD)])
        assert cursor.fetchone()[0] == AWKWARD


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="array literals are the PostgreSQL writer's")
def test_postgresql_reads_back_the_numbers_sent() -> None:
    values = [7, None, 2**40, 0.123456, 1e-06]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::bigint[], %s::float8[]", [_numbers(values[:3]), _numbers(values[3:])])
        ints, floats = cursor.fetchone()
    assert ints == values[:3] and floats == values[3:]
