"""Opaque, tamper-evident cursors: ``base64url(json ‖ mac)`` without padding.

The MAC is an HMAC derived from ``SECRET_KEY`` and bound to the cursor's purpose (``transactions``, ``delta``)
and owner (an account or consent id), so a cursor altered, or issued for another resource, is refused with
:class:`InvalidCursorError` (the API answers ``400`` on field ``cursor``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

import orjson
from django.utils.crypto import salted_hmac

from .exceptions import InvalidInputError

__all__ = ["InvalidCursorError", "cursor_decode", "cursor_encode"]

_MAC_BYTES = 12


class InvalidCursorError(InvalidInputError):
    def __init__(self) -> None:
        super().__init__("The cursor is invalid or was issued for another resource.", code="invalid", field="cursor")


def _mac(payload: bytes, purpose: str, owner: str) -> bytes:
    return salted_hmac(f"aggregator.api.cursor:{purpose}:{owner}", payload, algorithm="sha256").digest()[:_MAC_BYTES]


def cursor_encode(data: dict[str, Any], *, purpose: str, owner: str) -> str:
    payload = orjson.dumps(data)
    return base64.urlsafe_b64encode(payload + _mac(payload, purpose, owner)).rstrip(b"=").decode("ascii")


def cursor_decode(token: str, *, purpose: str, owner: str) -> dict[str, Any]:
    """The cursor's data, or :class:`InvalidCursorError`."""
    if not token or len(token) > 512:
        raise InvalidCursorError()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursorError() from exc
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, _mac(payload, purpose, owner)):
        raise InvalidCursorError()
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidCursorError() from exc
    if not isinstance(data, dict):
        raise InvalidCursorError()
    return data
