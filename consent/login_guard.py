"""Login protection shared by every password form (the consent login and the admin login): lockouts that hurt
the guesser, not the people who share an address with them.

Three counters of failed sign-ins, each in a sliding window of ``LOGIN_LOCKOUT_SECONDS``:

* per (client address, username): from the ``LOGIN_MAX_FAILURES``-th failure on, that username is refused *from
  that address only* for an exponentially growing time (``LOGIN_BACKOFF_SECONDS`` doubled per further failure,
  at most ``LOGIN_LOCKOUT_SECONDS``). The same person from another address, and everyone else from this address,
  sign in as usual.
* per client address (any username) and per username (any address): past ``LOGIN_CHALLENGE_ADDRESS_FAILURES`` /
  ``LOGIN_CHALLENGE_USERNAME_FAILURES`` a sign-in must carry a solved proof-of-work challenge
  (``challenge_issue``). A browser solves it in the background with ``consent/login-challenge.js`` (about 2^bits
  SHA-256 hashes, well under a second), so people behind a shared proxy and the owner of a targeted username
  still sign in with the right password; a guesser pays that work for every attempt. Nothing is refused outright.

The client address is ``aggregator.client_address`` (``TRUSTED_PROXY_COUNT`` / ``CLIENT_IP_HEADER``).

Cache outage: the counters fail *open onto this process's memory*: a lockout that failed closed would lock every
user out while the cache is down, and ignoring failures would let guessing run unlimited. Each process keeps the
same limits, so during an outage a guesser gets at most (processes * limit) attempts; a warning is logged.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpRequest

from aggregator.client_address import client_address

from .conf import consent_settings

__all__ = [
    "LoginChallenge",
    "LoginDecision",
    "challenge_issue",
    "challenge_solve",
    "challenge_verify",
    "login_check",
    "login_failure_record",
    "login_success_record",
]

logger = logging.getLogger(__name__)

# The counters when the shared cache is down: this process's own memory.
_local = LocMemCache("consent-login-guard", {"MAX_ENTRIES": 100_000})

_CHALLENGE_SALT = "consent.login-challenge"
# A challenge stays valid this long after it was issued (the sign-in page may sit open while someone types).
CHALLENGE_MAX_AGE_SECONDS = 10 * 60
_MAX_SOLUTION_LENGTH = 20


def _cache_failed(exc: Exception) -> None:
    logger.warning("login lockout: cache unavailable, counting in this process (%s: %s)", type(exc).__name__, exc)


def _get(key: str, default: Any = None) -> Any:
    try:
        return cache.get(key, default)
    except Exception as exc:  # the cache backend's own errors (redis ConnectionError, TimeoutError, …)
        _cache_failed(exc)
        return _local.get(key, default)


def _incr(store: Any, key: str, ttl: int) -> int:
    if store.add(key, 1, ttl):
        return 1
    try:
        value = store.incr(key)
    except ValueError:  # expired between add and incr
        store.set(key, 1, ttl)
        return 1
    store.touch(key, ttl)
    return int(value)


def _count(key: str, ttl: int) -> int:
    try:
        return _incr(cache, key, ttl)
    except Exception as exc:
        _cache_failed(exc)
        return _incr(_local, key, ttl)


def _set(key: str, value: Any, ttl: int) -> None:
    try:
        cache.set(key, value, ttl)
    except Exception as exc:
        _cache_failed(exc)
        _local.set(key, value, ttl)


def _add(key: str, value: Any, ttl: int) -> bool:
    try:
        return bool(cache.add(key, value, ttl))
    except Exception as exc:
        _cache_failed(exc)
        return bool(_local.add(key, value, ttl))


def _delete(*keys: str) -> None:
    for key in keys:
        _local.delete(key)
    try:
        cache.delete_many(list(keys))
    except Exception as exc:
        _cache_failed(exc)


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _normal(username: str) -> str:
    return username.strip().lower()


def _address(request: HttpRequest) -> str:
    return client_address(request) or "unknown"


def _pair_key(request: HttpRequest, username: str) -> str:
    return f"consent:login:pair:{_digest(_address(request), _normal(username))}"


def _lock_key(request: HttpRequest, username: str) -> str:
    return f"consent:login:lock:{_digest(_address(request), _normal(username))}"


def _address_key(request: HttpRequest) -> str:
    return f"consent:login:address:{_digest(_address(request))}"


def _username_key(username: str) -> str:
    return f"consent:login:username:{_digest(_normal(username))}"


@dataclass(frozen=True)
class LoginDecision:
    """What a sign-in attempt must satisfy before its password is even checked."""

    locked_seconds: int  # > 0: this username is refused from this address for that long (429, Retry-After)
    challenge_required: bool  # a solved proof-of-work challenge must come with the attempt


def login_check(*, request: HttpRequest, username: str) -> LoginDecision:
    until = _get(_lock_key(request, username))
    locked = max(0, math.ceil(float(until) - time.time())) if until else 0
    challenge = int(_get(_address_key(request), 0) or 0) >= int(
        consent_settings.LOGIN_CHALLENGE_ADDRESS_FAILURES
    ) or int(_get(_username_key(username), 0) or 0) >= int(consent_settings.LOGIN_CHALLENGE_USERNAME_FAILURES)
    return LoginDecision(locked_seconds=locked, challenge_required=challenge)


def login_failure_record(*, request: HttpRequest, username: str) -> int:
    """Count a failed sign-in; returns the seconds this (address, username) is now locked for (0: not locked)."""
    window = int(consent_settings.LOGIN_LOCKOUT_SECONDS)
    failures = _count(_pair_key(request, username), window)
    _count(_address_key(request), window)
    _count(_username_key(username), window)
    excess = failures - int(consent_settings.LOGIN_MAX_FAILURES)
    if excess < 0:
        return 0
    seconds = min(window, int(consent_settings.LOGIN_BACKOFF_SECONDS) * 2 ** min(excess, 32))
    _set(_lock_key(request, username), time.time() + seconds, seconds)
    logger.warning("login lockout: a username locked for %d s at one address after %d failures", seconds, failures)
    return seconds


def login_success_record(*, request: HttpRequest, username: str) -> None:
    """The right password (and second factor): this (address, username) starts afresh. The per-address and
    per-username counters stay: one success of a guesser must not wipe the evidence of its other attempts."""
    _delete(_pair_key(request, username), _lock_key(request, username))


@dataclass(frozen=True)
class LoginChallenge:
    token: str
    bits: int


def challenge_issue() -> LoginChallenge:
    """A fresh proof-of-work challenge: find a decimal ``solution`` such that SHA-256 of ``"<token>:<solution>"``
    starts with ``bits`` zero bits. Stateless (signed); ``challenge_verify`` accepts each solved token once."""
    bits = int(consent_settings.LOGIN_CHALLENGE_BITS)
    token = signing.dumps({"n": secrets.token_urlsafe(12), "b": bits}, salt=_CHALLENGE_SALT)
    return LoginChallenge(token=token, bits=bits)


def _leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def challenge_verify(*, token: str, solution: str) -> bool:
    """True for a token we issued within ``CHALLENGE_MAX_AGE_SECONDS`` with a valid solution, the first time."""
    if not token or not solution or len(solution) > _MAX_SOLUTION_LENGTH or not solution.isdigit():
        return False
    try:
        payload = signing.loads(token, salt=_CHALLENGE_SALT, max_age=CHALLENGE_MAX_AGE_SECONDS)
        bits = int(payload["b"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return False
    if _leading_zero_bits(hashlib.sha256(f"{token}:{solution}".encode()).digest()) < bits:
        return False
    return _add(f"consent:login:challenge-used:{_digest(token)}", 1, CHALLENGE_MAX_AGE_SECONDS)


def challenge_solve(challenge: LoginChallenge) -> str:
    """The solution a browser's ``login-challenge.js`` finds (used by tests and command-line clients)."""
    counter = 0
    while _leading_zero_bits(hashlib.sha256(f"{challenge.token}:{counter}".encode()).digest()) < challenge.bits:
        counter += 1
    return str(counter)
