"""Liberty: a US cursor-delta dialect (in the style of FDX / US aggregators). Spec: ``openapi/liberty.yaml``.

``GET /sandbox/liberty/accounts``, ``GET /sandbox/liberty/numbers`` (full account and routing numbers of the
shared deposit accounts; ``/accounts`` shows only a ``mask``), ``GET /sandbox/liberty/transactions/sync?cursor=&count=``
and ``POST /sandbox/liberty/item/remove`` (the user's authorization ends; its tokens stop working). Amounts are
unsigned decimal strings with ``direction`` ``DEBIT``/``CREDIT``; times are RFC 3339 timestamps. A sync cursor
pins a snapshot: pages of one sync share the same sandbox "now"; the last page's ``next_cursor`` starts the next
sync from that instant. When a pending transaction posts, its id appears in ``removed`` and the posted one in
``added`` with ``pending_transaction_id``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ... import bankdata, faults
from ...data.labels import merchant_category_code
from ...models import SandboxConsent, SandboxToken
from ...oauth import consents
from ..common import bearer_token, iso_datetime, json_response, money, unsigned_money

__all__ = ["DEFAULT_COUNT", "MAX_COUNT", "accounts", "item_remove", "numbers", "transactions_sync"]

BANK = "liberty"
DEFAULT_COUNT = 100
MAX_COUNT = 500
ACCOUNT_TYPES = {
    "current": ("depository", "checking"),
    "savings": ("depository", "savings"),
    "credit_card": ("credit", "credit card"),
}


class LibertyError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> HttpResponse:
    return json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def liberty_endpoint(view: Callable[..., HttpResponse], *, method: str = "GET") -> Callable[..., HttpResponse]:
    @csrf_exempt
    @require_http_methods([method])
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
        try:
            return view(request, *args, **kwargs)
        except LibertyError as exc:
            return _error_response(exc.status, exc.code, exc.message, exc.headers)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _authenticate(request: HttpRequest) -> tuple[SandboxToken, SandboxConsent]:
    token = bearer_token(request, BANK)
    if token is None or token.consent is None:
        raise LibertyError(
            401, "INVALID_ACCESS_TOKEN", "Missing, unknown or expired access token.", {"WWW-Authenticate": "Bearer"}
        )
    if not consents.consent_is_active(consent=token.consent):
        raise LibertyError(
            403, "ITEM_LOGIN_REQUIRED", f"The authorization is {token.consent.status}; the user must log in again."
        )
    return token, token.consent


def _with_faults(token: SandboxToken, produce: Callable[[], HttpResponse]) -> HttpResponse:
    fault = faults.fault_for_request(bank=BANK, client_id=token.client.client_id, username=token.username)
    codes = {429: "RATE_LIMITED", 500: "INTERNAL_SERVER_ERROR", 503: "SERVICE_UNAVAILABLE"}

    def error(status: int, text: str, headers: dict[str, str]) -> HttpResponse:
        return _error_response(status, codes.get(status, "ERROR"), text, headers)

    return faults.apply_fault(fault, produce, error)


def _mask(acc: bankdata.SandboxAccount) -> str:
    digits = acc.masked_pan or acc.account_number or acc.id
    return digits[-4:]


@liberty_endpoint
def accounts(request: HttpRequest) -> HttpResponse:
    """The accounts the user shared, with current/available balances."""
    token, consent = _authenticate(request)

    def produce() -> HttpResponse:
        wanted = set(consent.account_ids)
        items = []
        for acc in bankdata.user_accounts(BANK, consent.username):
            if acc.id not in wanted:
                continue
            kind, subtype = ACCOUNT_TYPES.get(acc.type, ("depository", "checking"))
            balances = {b.type: b for b in bankdata.account_balances(BANK, consent.username, acc.id)}
            current = balances.get("booked")
            available = balances.get("available")
            # Credit accounts report what is owed as a positive "current" balance (US convention).
            sign = -1 if kind == "credit" else 1
            items.append(
                {
                    "account_id": acc.id,
                    "name": acc.name,
                    "official_name": acc.name,
                    "type": kind,
                    "subtype": subtype,
                    "mask": _mask(acc),
                    "holder_name": acc.holder_name,
                    "balances": {
                        "current": money(sign * current.amount) if current else None,
                        "available": money(available.amount) if available else None,
                        "limit": money(acc.credit_limit) if acc.credit_limit is not None else None,
                        "iso_currency_code": acc.currency,
                        "as_of": iso_datetime(current.as_of) if current else None,
                    },
                }
            )
        return json_response({"accounts": items})

    return _with_faults(token, produce)


@liberty_endpoint
def numbers(request: HttpRequest) -> HttpResponse:
    """Account and routing numbers (ACH) of the shared deposit accounts; cards have none here."""
    token, consent = _authenticate(request)

    def produce() -> HttpResponse:
        wanted = set(consent.account_ids)
        routing = bankdata.bank_info(BANK).get("routing_number", "")
        items = [
            {
                "account_id": acc.id,
                "account_number": acc.account_number,
                "routing_number": routing,
                "wire_routing_number": routing,
            }
            for acc in bankdata.user_accounts(BANK, consent.username)
            if acc.id in wanted and acc.account_number
        ]
        return json_response({"numbers": items})

    return _with_faults(token, produce)


def _encode_cursor(since: int | None, now: int, offset: int) -> str:
    raw = orjson.dumps({"v": 1, "s": since, "n": now, "o": offset})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int | None, int | None, int]:
    """(since, snapshot now or None for a new sync, offset)."""
    if not cursor:
        return None, None, 0
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        since, now, offset = data["s"], data["n"], data["o"]
        if data.get("v") != 1 or not isinstance(offset, int) or offset < 0:
            raise ValueError
        if since is not None and not isinstance(since, int):
            raise ValueError
        if now is not None and not isinstance(now, int):
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise LibertyError(400, "INVALID_CURSOR", "The cursor is not one this bank issued.") from None
    return since, now, offset


def _transaction_json(tx: bankdata.SandboxTransaction) -> dict:
    return {
        "transaction_id": tx.id,
        "account_id": tx.account_id,
        "amount": unsigned_money(tx.amount),
        "direction": "CREDIT" if tx.amount >= 0 else "DEBIT",
        "iso_currency_code": tx.currency,
        "pending": tx.status == "pending",
        "authorized_at": iso_datetime(tx.booked_at),
        "posted_at": iso_datetime(tx.booked_at) if tx.status == "booked" else None,
        "description": tx.description,
        "merchant_name": tx.merchant_name or None,
        "counterparty": tx.counterparty_name or None,
        "category": tx.category or None,
        "merchant_category_code": merchant_category_code(tx) or None,
        "transaction_code": tx.bank_transaction_code or None,
        "pending_transaction_id": tx.pending_transaction_id or None,
    }


@liberty_endpoint
def transactions_sync(request: HttpRequest) -> HttpResponse:
    """Changes since ``cursor`` (empty = everything), ``count`` items per page."""
    try:
        count = int(request.GET.get("count") or DEFAULT_COUNT)
    except ValueError:
        raise LibertyError(400, "INVALID_FIELD", "count must be an integer.") from None
    if not 1 <= count <= MAX_COUNT:
        raise LibertyError(400, "INVALID_FIELD", f"count must be between 1 and {MAX_COUNT}.")
    since, snapshot, offset = _decode_cursor(request.GET.get("cursor", ""))
    token, consent = _authenticate(request)

    def produce() -> HttpResponse:
        now_ts = snapshot if snapshot is not None else int(bankdata.sandbox_now().timestamp())
        now = datetime.fromtimestamp(now_ts, tz=UTC)
        since_dt = datetime.fromtimestamp(since, tz=UTC) if since is not None else None
        added, modified, removed = bankdata.transaction_changes_since(BANK, consent.username, since=since_dt, now=now)
        wanted = set(consent.account_ids)
        if not {a.id for a in bankdata.user_accounts(BANK, consent.username)} <= wanted:
            # partial consent: filter (O(n)); the usual all-accounts case stays a lazy, sliceable view
            added = [t for t in added if t.account_id in wanted]
            modified = [t for t in modified if t.account_id in wanted]
        removed_ids = list(removed)
        total = len(added) + len(modified) + len(removed_ids)
        end = min(offset + count, total)
        page_added = added[offset:end]
        start_mod = max(0, offset - len(added))
        end_mod = max(0, end - len(added))
        page_modified = modified[start_mod:end_mod]
        start_rem = max(0, offset - len(added) - len(modified))
        end_rem = max(0, end - len(added) - len(modified))
        page_removed = removed_ids[start_rem:end_rem]
        has_more = end < total
        next_cursor = _encode_cursor(since, now_ts, end) if has_more else _encode_cursor(now_ts, None, 0)
        body = {
            "added": [_transaction_json(t) for t in page_added],
            "modified": [_transaction_json(t) for t in page_modified],
            "removed": [{"transaction_id": tid} for tid in page_removed],
            "next_cursor": next_cursor,
            "has_more": has_more,
        }
        return json_response(body)

    return _with_faults(token, produce)


def _item_remove(request: HttpRequest) -> HttpResponse:
    """End the authorization behind the access token (idempotent: removing a removed item answers the same)."""
    token = bearer_token(request, BANK)
    if token is None or token.consent is None:
        raise LibertyError(
            401, "INVALID_ACCESS_TOKEN", "Missing, unknown or expired access token.", {"WWW-Authenticate": "Bearer"}
        )
    if token.consent.status != consents.REVOKED_STATUS[BANK]:
        consents.consent_revoke(consent=token.consent)
    return json_response({"removed": True})


item_remove = liberty_endpoint(_item_remove, method="POST")
