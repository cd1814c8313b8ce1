"""The access log in words a person understands: "read your transactions of Everyday Current Account".

The access log stores the API path a third-party app called (``/api/v1/accounts/<uuid>/transactions``);
``access_describe`` turns it into what the app did, naming the account instead of its id. One home for the
mapping: the dashboard and anything else that shows access to a user call it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["access_describe", "access_rows_describe"]

_ID = r"(?P<id>[^/]+)"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"^/api/v1/{path}/?$"), text)
    for path, text in (
        ("accounts", "list your accounts"),
        (rf"accounts/{_ID}", "read the details of {account}"),
        (rf"accounts/{_ID}/balances", "read your balances of {account}"),
        (rf"accounts/{_ID}/transactions", "read your transactions of {account}"),
        ("transactions/sync", "read new and changed transactions of your shared accounts"),
        (rf"transactions/{_ID}", "read or re-categorise one of your transactions"),
        ("recurring", "read your regular payments and income"),
        ("income", "read your income"),
        ("risk-signals", "read warnings about your accounts (duplicates, unusual payments, overdraft risk)"),
        ("consents/current", "check what you have shared with it"),
        (rf"consents/{_ID}/refresh", "ask your banks for fresh data"),
        (rf"consents/{_ID}", "check what you have shared with it"),
        (rf"syncs/{_ID}", "check on a request for fresh data"),
    )
)


def access_describe(*, endpoint: str, account_names: Mapping[str, str]) -> str:
    """What a request to ``endpoint`` did, in words; ``account_names`` maps account public ids to their names."""
    path = endpoint.split("?", 1)[0]
    for pattern, text in _PATTERNS:
        match = pattern.match(path)
        if match:
            account_id = match.groupdict().get("id", "")
            return text.format(account=account_names.get(account_id, "an account you no longer share"))
    return "make another request"


def access_rows_describe(*, rows: Iterable[Mapping[str, Any]], account_names: Mapping[str, str]) -> list[dict]:
    """Access-summary rows (``endpoint``, ``requests``, ``last_at``) merged by their description, latest first."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        text = access_describe(endpoint=row["endpoint"], account_names=account_names)
        item = merged.setdefault(text, {"what": text, "requests": 0, "last_at": row["last_at"]})
        item["requests"] += row["requests"]
        item["last_at"] = max(item["last_at"], row["last_at"])
    return sorted(merged.values(), key=lambda item: item["last_at"], reverse=True)
