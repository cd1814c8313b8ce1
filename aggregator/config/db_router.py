"""Reads of the data API from a PostgreSQL streaming replica, with read-your-writes pinning.

On when ``DATABASE_REPLICA_URL`` is set (settings add the ``replica`` alias and this router). Only a read-only data
API request — ``GET``/``HEAD`` under ``/api/`` — may read from the replica; everything else (workers, beat, the
OAuth and consent pages, the admin, any write request) uses the primary. Inside such a request:

* reads go to ``replica`` until the request writes; the first write (and any read inside a transaction) goes to
  the primary and *pins* the rest of the request there, so it reads what it wrote;
* a client that wrote recently reads from the primary for ``DATABASE_REPLICA_PIN_SECONDS`` (5) after: each write
  request marks its client (a hash of its ``Authorization`` header) in the cache, and a read from the same client
  within that time is pinned too — so a TPP that asks for a refresh and reads at once never misses its own write
  because of replication lag.

The replica is a copy of the primary: migrations run on the primary only.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, HttpResponse

__all__ = ["PRIMARY", "REPLICA", "ReplicaPinMiddleware", "ReplicaRouter", "replica_scope"]

logger = logging.getLogger(__name__)

PRIMARY = "default"
REPLICA = "replica"

# Per request (each thread or task has its own context): may reads use the replica, and did this request write?
_eligible: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_eligible", default=False)
_pinned: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_pinned", default=False)

_READ_METHODS = frozenset({"GET", "HEAD"})


def _pin_seconds() -> float:
    return float(getattr(settings, "DATABASE_REPLICA_PIN_SECONDS", 5))


def _pin_client(key: str) -> None:
    try:
        cache.set(key, 1, timeout=_pin_seconds())
    except Exception:  # the cache is away: the client's next reads may come from the replica, a little behind
        logger.warning("could not pin a client to the primary database: cache unavailable")


def _client_pinned(key: str) -> bool:
    try:
        return cache.get(key) is not None
    except Exception:  # the cache is away: read from the primary, the safe side
        return True


def _client_key(request: HttpRequest) -> str | None:
    credential = request.META.get("HTTP_AUTHORIZATION", "")
    if not credential:
        return None
    return "replica-pin:" + hashlib.sha256(credential.encode()).hexdigest()


class ReplicaRouter:
    """``DATABASE_ROUTERS`` entry: see the module docstring."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        if not _eligible.get() or _pinned.get() or connections[PRIMARY].in_atomic_block:
            return PRIMARY
        return REPLICA

    def db_for_write(self, model: type, **hints: Any) -> str:
        if _eligible.get():
            _pinned.set(True)  # read your writes for the rest of this request
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the same rows in both: a replica is a copy of the primary

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == PRIMARY


class replica_scope:  # a context manager, named and used like a function
    """Within it, reads may go to the replica (until a write pins the scope to the primary)."""

    def __init__(self, *, pinned: bool = False) -> None:
        self.pinned = pinned

    def __enter__(self) -> replica_scope:
        self._tokens = (_eligible.set(True), _pinned.set(self.pinned))
        return self

    def __exit__(self, *exc: object) -> None:
        wrote = _pinned.get() and not self.pinned
        eligible, pinned = self._tokens
        _pinned.reset(pinned)
        _eligible.reset(eligible)
        self.wrote = wrote


class ReplicaPinMiddleware:
    """Opens a :class:`replica_scope` for read-only API requests; remembers clients that wrote (see the module
    docstring). Installed only when the replica is configured."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = _client_key(request)
        if request.method not in _READ_METHODS or not request.path.startswith("/api/"):
            response = self.get_response(request)
            if key is not None and request.method not in _READ_METHODS:
                _pin_client(key)  # its next reads see what it just wrote
            return response
        with replica_scope(pinned=key is not None and _client_pinned(key)) as scope:
            response = self.get_response(request)
        if key is not None and scope.wrote:
            _pin_client(key)
        return response
