"""The keyed hash that stands for an erased person in the evidence we keep (``erased-<hex>``)."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

from aggregator.conf import aggregator_settings

__all__ = ["pseudonym"]


def _key() -> bytes:
    key = aggregator_settings.PRIVACY_PSEUDONYM_KEY
    if key:
        return key.encode()
    return hashlib.sha256(b"aggregator.privacy.pseudonym:" + settings.SECRET_KEY.encode()).digest()


def pseudonym(*, user_id: int) -> str:
    """HMAC-SHA256 of the user's id under the pseudonym key, hex (64 characters): stable, not reversible without
    the key, and naming nobody by itself."""
    return hmac.new(_key(), f"user:{user_id}".encode(), hashlib.sha256).hexdigest()
