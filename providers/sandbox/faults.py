"""Seeded fault injection for the ``flaky`` test user.

Each data request of a flaky user (per bank, client and user) draws a request number from a persistent counter
(shared by every server process). Whether request *n* fails, and how, is a pure function of
``(user seed, bank, client, n)``, so a test that replays the same sequence of requests sees the same faults.

Shape: requests are grouped in threes and the third of each group never fails, so there are never more than two
faults in a row and a client retrying three times always gets through. About a third of the other requests fail.

Kinds: ``429`` with ``Retry-After: 1``; ``500``; ``503`` (rhein, liberty; albion's spec has no 503, it answers 500
instead); ``slow`` (0.2 to 1.0 s delay, then a normal answer); ``truncated`` (200 with the JSON body cut in half).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpResponse

from . import bankdata
from .banks.common import counter_increment

__all__ = ["FAULT_KINDS", "Fault", "apply_fault", "fault_fails", "fault_for_request", "planned_fault"]

FAULT_KINDS = ("429", "500", "503", "slow", "truncated")
_WEIGHTS = (4, 2, 2, 3, 1)
FAULT_RATE = 0.35

sleep: Callable[[float], None] = time.sleep  # tests replace this to stay fast


@dataclass(frozen=True)
class Fault:
    kind: str
    delay: float = 0.0


def planned_fault(*, seed: int, bank: str, client_id: str, n: int) -> Fault | None:
    """The fault of request number ``n`` (1-based) — deterministic."""
    if n % 3 == 0:
        return None
    rng = random.Random(f"{seed}:{bank}:{client_id}:{n}")
    if rng.random() >= FAULT_RATE:
        return None
    kind = rng.choices(FAULT_KINDS, weights=_WEIGHTS)[0]
    if kind == "503" and bank == "albion":
        kind = "500"
    return Fault(kind, delay=round(rng.uniform(0.2, 1.0), 3) if kind == "slow" else 0.0)


def fault_for_request(*, bank: str, client_id: str, username: str) -> Fault | None:
    """Consume one request number for a flaky user and return its fault (None for everybody else)."""
    user = bankdata.get_user(username)
    if user is None or user.behaviour != "flaky":
        return None
    n = counter_increment(f"fault:{bank}:{client_id}:{username}")
    return planned_fault(seed=user.seed, bank=bank, client_id=client_id, n=n)


def fault_fails(fault: Fault | None) -> bool:
    """Whether ``fault`` spoils the answer (an error status or a truncated body); ``slow`` still answers."""
    return fault is not None and fault.kind != "slow"


def apply_fault(
    fault: Fault | None,
    produce: Callable[[], HttpResponse],
    error: Callable[[int, str, dict[str, str]], HttpResponse],
) -> HttpResponse:
    """Run ``produce`` under ``fault``. ``error(status, text, headers)`` renders the bank's error body."""
    if fault is None:
        return produce()
    if fault.kind == "429":
        return error(429, "Too many requests, slow down and retry after 1 second.", {"Retry-After": "1"})
    if fault.kind == "500":
        return error(500, "Unexpected internal error, please retry.", {})
    if fault.kind == "503":
        return error(503, "Service temporarily unavailable, please retry.", {"Retry-After": "1"})
    if fault.kind == "slow":
        sleep(fault.delay)
        return produce()
    response = produce()
    body = response.content
    response.content = body[: max(1, len(body) // 2)]
    response["Content-Length"] = str(len(response.content))
    return response
