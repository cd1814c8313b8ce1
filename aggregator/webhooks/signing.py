"""Webhook signatures: ``Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw_body}")>``.

Receivers recompute the HMAC over the timestamp, a dot and the raw request body (bytes as received, before any
JSON parsing), compare in constant time, and refuse timestamps older than a few minutes (replay protection).
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "webhook_sign", "webhook_signature_header", "webhook_verify"]

SIGNATURE_HEADER = "Webhook-Signature"


def webhook_sign(*, secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def webhook_signature_header(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={webhook_sign(secret=secret, timestamp=t, body=body)}"


def webhook_verify(*, secret: str, header: str, body: bytes, tolerance: int = 300, now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and its timestamp is within ``tolerance`` seconds."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = webhook_sign(secret=secret, timestamp=t, body=body)
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))
