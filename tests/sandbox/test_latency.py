"""SANDBOX_LATENCY_MS: every sandbox bank call waits that long; nothing else does."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.django_db


def _timed(client, path: str) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    client.get(path)
    return time.perf_counter() - started


def test_sandbox_bank_calls_wait_the_configured_latency_and_our_pages_do_not(client, settings):
    settings.SANDBOX_LATENCY_MS = 300
    assert _timed(client, "/sandbox/albion/.well-known/oauth-authorization-server") >= 0.3
    assert _timed(client, "/livez") < 0.3


def test_no_latency_by_default(client, settings):
    settings.SANDBOX_LATENCY_MS = 0
    assert _timed(client, "/sandbox/albion/.well-known/oauth-authorization-server") < 0.3
