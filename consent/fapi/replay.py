"""One-time values (``jti`` of client assertions and DPoP proofs) remembered in the shared Django cache.

``cache.add`` is atomic on Redis and memcached: of two workers seeing the same ``jti``, exactly one adds it. The
cache must be shared by every process (``CACHE_URL=redis://…``): a per-process cache only catches replays that
reach the same process.

**Fail closed.** If the cache cannot be reached, :class:`ReplayCheckUnavailable` is raised and the caller refuses
the request (token and PAR endpoints ``503 temporarily_unavailable``, the API ``503 replay_check_unavailable``,
both with ``Retry-After``): accepting an assertion or a proof that might be a replay would defeat the very
protection FAPI 2.0 asks for. Baseline (bearer) clients do not depend on it.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache

from .errors import ReplayCheckUnavailable

__all__ = ["jti_first_use"]

logger = logging.getLogger("consent.fapi")


def jti_first_use(*, namespace: str, issuer: str, jti: str, ttl: int) -> bool:
    """Record ``jti`` for ``ttl`` seconds; ``False`` if it was already recorded (a replay)."""
    digest = hashlib.sha256(f"{namespace}\0{issuer}\0{jti}".encode()).hexdigest()
    try:
        return bool(cache.add(f"fapi-jti:{digest}", 1, timeout=max(1, ttl)))
    except Exception as exc:
        logger.warning("Replay cache unavailable (%s): refusing %s", exc, namespace)
        raise ReplayCheckUnavailable(str(exc)) from exc
