"""Shared pytest fixtures. Factories live in ``tests/factories.py``."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(settings):  # type: ignore[no-untyped-def]
    """Each test starts with an empty cache (throttles, rate limits)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
