"""Parsing helpers shared by the adapters: strict money, dates and datetimes (a bad value is an error)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ..base import TransientProviderError

__all__ = ["as_currency", "as_date", "as_datetime", "as_decimal", "malformed", "stable_id"]


def malformed(message: str) -> TransientProviderError:
    return TransientProviderError(message, code="malformed_response")


def as_decimal(value: Any, what: str = "amount") -> Decimal:
    """A ``Decimal`` from a JSON string or number.

    A JSON number arrives as a float; its shortest round-trip ``repr`` is exactly the digits the bank sent (for
    up to 15 significant digits), so ``Decimal(repr(x))`` recovers them without binary noise.
    """
    if isinstance(value, bool) or value is None:
        raise malformed(f"{what} missing or not a number: {value!r}")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        result = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise malformed(f"{what} is not a decimal: {value!r}") from exc
    if not result.is_finite():
        raise malformed(f"{what} is not finite: {value!r}")
    return result


def as_currency(value: Any, what: str = "currency") -> str:
    code = str(value or "").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise malformed(f"{what} is not an ISO 4217 code: {value!r}")
    return code


def as_datetime(value: Any, what: str = "datetime") -> datetime:
    """An aware UTC datetime from ISO 8601; a naive value is taken as UTC (some banks omit the offset)."""
    if not isinstance(value, str) or not value:
        raise malformed(f"{what} missing")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise malformed(f"{what} is not ISO 8601: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def as_date(value: Any, what: str = "date") -> date:
    if not isinstance(value, str) or not value:
        raise malformed(f"{what} missing")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise malformed(f"{what} is not an ISO date: {value!r}") from exc


def stable_id(*parts: Any) -> str:
    """A deterministic id for records a bank sends without one (hash of their identifying fields)."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return "h:" + digest[:40]
