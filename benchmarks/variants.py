"""The other side of each framework-internals decision of the data API, so that ``bench_api`` measures what each
one buys in the same process and the same run (README, "Benchmarks"):

* :func:`orm_access_token_lookup` — the public-API token lookup (the ``select_related`` queryset) that the shipped
  ``consent.api_auth.access_token_lookup`` replaces with a query compiled once through Django's SQL compiler
  internals (kept: it is what brings the transactions page to its goal);
* :func:`pipelined_incr_many` — the throttle top-up as one Redis pipeline (``INCRBY`` + ``EXPIRE … NX``) on a
  client taken from the cache backend's private ``_cache``, which ``aggregator.api.throttles`` used to ship (removed:
  the public ``cache.incr`` / ``cache.add`` cost about 10 µs a request more).

:func:`using` swaps them into the running code for a block; :func:`apply` for good (the benchmark's second
server, ``benchmarks/wsgi_variant.py``). Nothing outside ``benchmarks/`` imports this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from aggregator.api import throttles
from consent import api_auth
from consent.models import AccessToken

__all__ = ["apply", "orm_access_token_lookup", "pipelined_incr_many", "using"]


def orm_access_token_lookup(raw: str) -> AccessToken | None:
    """The token of a raw bearer token with its consent, through the public queryset (one query)."""
    for token in AccessToken.objects.select_related("consent").filter(token_checksum=api_auth._token_checksum(raw)):
        return token
    return None


def _redis_client(backend: Any) -> Any:
    client = getattr(backend, "_api_throttle_client", None)
    if client is None:
        client = backend._api_throttle_client = backend._cache.get_client(write=True)
    return client


def pipelined_incr_many(keys: list[tuple[str, int, int]]) -> list[int]:
    """The removed top-up: all counters in one Redis round trip, on the backend's private client."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        raise RuntimeError("the pipelined top-up needs the Redis cache backend")
    pipe = _redis_client(backend).pipeline(transaction=False)
    for key, amount, ttl in keys:
        made = backend.make_key(key)
        pipe.incrby(made, amount)
        pipe.expire(made, ttl, nx=True)
    return [int(v) for v in pipe.execute()[::2]]


def apply(*, orm_lookup: bool = False, pipelined_throttle: bool = False) -> None:
    if orm_lookup:
        api_auth.access_token_lookup = orm_access_token_lookup
    if pipelined_throttle:
        throttles._incr_many = pipelined_incr_many


@contextlib.contextmanager
def using(*, orm_lookup: bool = False, pipelined_throttle: bool = False) -> Iterator[None]:
    """The variants swapped into the running API code for the duration of the block."""
    saved = api_auth.access_token_lookup, throttles._incr_many
    apply(orm_lookup=orm_lookup, pipelined_throttle=pipelined_throttle)
    try:
        yield
    finally:
        api_auth.access_token_lookup, throttles._incr_many = saved
