"""Helpers shared by the three banks' API views: fast JSON, bearer tokens, counters, amounts and times."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import orjson
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse

from ..models import SandboxCounter, SandboxToken

__all__ = [
    "bearer_token",
    "counter_increment",
    "counter_increment_below",
    "iso_datetime",
    "json_response",
    "money",
    "unsigned_money",
]


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    """orjson-encoded JSON (page of 500 transactions without the stdlib encoder's cost)."""
    response = HttpResponse(orjson.dumps(body), status=status, content_type="application/json")
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def money(amount: Decimal) -> str:
    """Signed decimal string, never float, never exponent notation."""
    return format(amount, "f")


def unsigned_money(amount: Decimal) -> str:
    return format(abs(amount), "f")


def iso_datetime(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="seconds")


def iso_date_midnight(value: date) -> str:
    return f"{value.isoformat()}T00:00:00+00:00"


class _Validator(BearerTokenValidator):
    def __init__(self, bank: str) -> None:
        super().__init__()
        self.bank = bank

    def authenticate_token(self, token_string):  # type: ignore[no-untyped-def]
        return (
            SandboxToken.objects.select_related("consent", "client")
            .filter(bank=self.bank, access_token=token_string)
            .order_by()
            .first()
        )


def bearer_token(request: HttpRequest, bank: str) -> SandboxToken | None:
    """The valid (known, unexpired on the sandbox clock, unrevoked) access token of this bank, else None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    validator = _Validator(bank)
    token = validator.authenticate_token(value.strip())
    try:
        validator.validate_token(token, None, request)
    except InvalidTokenError:
        return None
    return token


def counter_increment(key: str) -> int:
    """Atomically add one to a persistent counter shared by every server process; returns the new value."""
    for _ in range(3):
        try:
            with transaction.atomic():
                updated = SandboxCounter.objects.filter(key=key).update(value=F("value") + 1)
                if not updated:
                    SandboxCounter.objects.create(key=key, value=1)
                    return 1
                return SandboxCounter.objects.values_list("value", flat=True).get(key=key)
        except IntegrityError:  # another process created it first
            continue
    raise RuntimeError(f"could not increment counter {key}")


def counter_increment_below(key: str, limit: int) -> bool:
    """Atomically add one to a persistent counter if it is below ``limit``; False (nothing added) otherwise.
    The counter never exceeds ``limit``, however many processes race for the last unit."""
    if limit < 1:
        return False
    for _ in range(3):
        try:
            with transaction.atomic():
                if SandboxCounter.objects.filter(key=key, value__lt=limit).update(value=F("value") + 1):
                    return True
                if SandboxCounter.objects.filter(key=key).exists():
                    return False
                SandboxCounter.objects.create(key=key, value=1)
                return True
        except IntegrityError:  # another process created it first
            continue
    raise RuntimeError(f"could not increment counter {key}")


def counter_value(key: str) -> int:
    return SandboxCounter.objects.filter(key=key).values_list("value", flat=True).first() or 0
