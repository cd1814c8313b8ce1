"""The canonical ground truth of one sandbox bank for one user, as printed by ``manage.py sandbox_export``.

Format (JSON, keys sorted, UTF-8)::

    {
      "bank": "albion",
      "user": "alice",
      "as_of": "2026-11-25T13:20:05Z",
      "accounts": [                                   # in the bank's order (fixture order)
        {
          "id": "alb-6a67ba170322c96e", "bank": "albion", "username": "alice",
          "type": "current" | "savings" | "credit_card", "currency": "GBP", "name": "...", "holder_name": "...",
          "iban": "GB77ALBN...", "sort_code": "600727", "account_number": "13820041", "masked_pan": "",
          "credit_limit": "6000.00" | null, "opened_on": "2024-01-01",
          "balances": [                               # booked, available, expected
            {"account_id": "...", "type": "booked", "amount": "7634.67", "currency": "GBP",
             "as_of": "2026-11-25T13:20:05Z", "credit_line_included": false}
          ],
          "transactions": [                           # oldest first (booked_at, then id); booked and pending
            {"id": "B…", "account_id": "...", "status": "booked" | "pending",
             "booked_at": "2024-01-01T06:12:40Z",     # pending: the authorisation time
             "booking_date": "2024-01-01", "value_date": "2024-01-01",
             "amount": "-1150.00", "currency": "GBP",  # signed: negative = money out
             "description": "...", "merchant_name": "...", "category": "rent", "counterparty_name": "...",
             "bank_transaction_code": "PMNT-ICDT-STDO", "pending_transaction_id": "" | "P…",
             "end_to_end_id": "" | "E2E-…"}          # debits of payments initiated at the bank (PIS)
          ]
        }
      ],
      "payments": [                                   # payments initiated at the bank from the user's accounts
        {"id": "...", "product": "domestic-payments", "status": "AcceptedSettlementCompleted" | "ACSC" | …,
         "debtor_account_id": "...", "amount": "12.50", "currency": "GBP", "creditor_name": "...",
         "creditor_scheme": "UK.OBIE.SortCodeAccountNumber", "creditor_identification": "...",
         "reference": "...", "end_to_end_id": "...", "instruction_id": "...",
         "created_at": "…Z", "submitted_at": "…Z" | null, "settles_at": "…Z" | null, "rejected_at": null,
         "reason_code": "" | "AM04"}
      ]
    }

Conventions: amounts are strings with exactly two decimals; datetimes are UTC, ISO 8601, whole seconds, with a
``Z`` suffix (``as_of`` is the sandbox clock truncated to the second — transaction times are whole seconds, so
nothing is lost); dates are ``YYYY-MM-DD``; empty identifiers are ``""``; absent numbers are ``null``.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from .bankdata import account_balances, account_transactions, sandbox_now, user_accounts
from .data.catalog import bank_info
from .data.labels import merchant_category_code, transaction_label
from .payments.lifecycle import bg_status, obie_payment_status
from .payments.models import SandboxPayment

__all__ = ["export_json", "export_user", "format_datetime", "to_jsonable"]


def format_datetime(moment: datetime) -> str:
    """UTC, whole seconds, ``Z`` suffix: ``2024-01-01T06:12:40Z``."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}")
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def to_jsonable(obj: Any) -> dict[str, Any]:
    """A sandbox dataclass as a JSON-ready dict (transactions gain ``booking_date``)."""
    data = {name: _value(getattr(obj, name)) for name in _field_names(type(obj))}
    if hasattr(obj, "booking_date"):
        data["booking_date"] = obj.booking_date.isoformat()
    return data


_PAYMENT_FIELDS = (
    "id",
    "product",
    "debtor_account_id",
    "amount",
    "currency",
    "creditor_name",
    "creditor_scheme",
    "creditor_identification",
    "reference",
    "end_to_end_id",
    "instruction_id",
    "created_at",
    "submitted_at",
    "settles_at",
    "rejected_at",
    "reason_code",
)


def _payments(bank: str, username: str, moment: datetime) -> list[dict[str, Any]]:
    rows = SandboxPayment.objects.filter(bank=bank, username=username, created_at__lte=moment).order_by(
        "created_at", "id"
    )
    status = obie_payment_status if bank == "albion" else bg_status
    return [
        {
            **{name: _value(getattr(row, name)) for name in _PAYMENT_FIELDS},
            "status": status(row, moment),
        }
        for row in rows
    ]


def _transaction_item(tx: Any, *, labels: bool, holder: str, bank_name: str) -> dict[str, Any]:
    item = to_jsonable(tx)
    item.pop("anomaly", None)  # ground truth, never part of what the bank holds
    if labels:
        label = to_jsonable(transaction_label(tx, holder=holder, bank_name=bank_name))
        label.pop("transaction_id")
        label["merchant_category_code"] = merchant_category_code(tx)
        item["labels"] = label
    return item


def export_user(
    bank: str, username: str, *, now: datetime | None = None, with_payments: bool = True, labels: bool = False
) -> dict[str, Any]:
    """Everything ``bank`` holds for ``username`` at ``now`` (default: the sandbox clock), truncated to seconds.
    ``with_payments=False``: the generated history alone (no database access; no ``payments`` key).

    ``labels=True`` adds the generator's ground truth to every transaction (``"labels"``: true category, counterparty,
    recurring stream, injected anomaly, MCC — see :mod:`providers.sandbox.data.labels`).
    Raises ``UnknownBank`` / ``UnknownUser`` (``LookupError``) with the valid choices.
    """
    accounts = user_accounts(bank, username)
    moment = (sandbox_now() if now is None else now).astimezone(UTC).replace(microsecond=0)
    result = []
    for account in accounts:
        item = to_jsonable(account)
        balances = account_balances(bank, username, account.id, now=moment, with_payments=with_payments)
        transactions = account_transactions(bank, username, account.id, now=moment, with_payments=with_payments)
        item["balances"] = [to_jsonable(b) for b in balances]
        item["transactions"] = [
            _transaction_item(t, labels=labels, holder=account.holder_name, bank_name=bank_info(bank)["name"])
            for t in transactions
        ]
        result.append(item)
    doc = {"bank": bank, "user": username, "as_of": format_datetime(moment), "accounts": result}
    if with_payments:
        doc["payments"] = _payments(bank, username, moment)
    return doc


def export_json(
    bank: str, username: str, *, now: datetime | None = None, indent: int | None = 2, labels: bool = False
) -> str:
    """The export as canonical JSON text ending in a newline: keys sorted, UTF-8 (no ASCII escaping), indented
    by 2 spaces or, with ``indent=None``, compact (``,`` and ``:`` without spaces). Byte-identical to
    ``json.dumps(doc, sort_keys=True, indent=2 or None, ensure_ascii=False, separators=...)``; orjson does the
    encoding because the standard library's indenting encoder is pure Python (minutes for the bulk user)."""
    if indent not in (None, 2):
        raise ValueError("indent must be 2 or None")
    option = orjson.OPT_SORT_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(export_user(bank, username, now=now, labels=labels), option=option).decode() + "\n"
