"""Read-side queries of the data API: every function takes the ``consent`` and applies it — its accounts
(``consent.selectors.consent_accounts``, the one visibility rule), its transaction date range — so a view cannot
forget to. Views validate input, call one of these, and render.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from aggregator.cursors import InvalidCursorError, cursor_decode, cursor_encode
from aggregator.delta import DeltaPage, delta_cursor_decode, delta_cursor_encode, transaction_delta
from aggregator.exceptions import NotFoundError
from aggregator.models import Account, Balance, Connection, SyncRun, Transaction
from aggregator.payments.models import Payment
from aggregator.sync.status import SyncStatus, connections_sync_status, sync_run_interrupted
from consent.models import Consent
from consent.selectors import consent_accounts

from .pagination import keyset_page
from .serializers import TRANSACTION_FIELDS

__all__ = [
    "TransactionFilters",
    "TransactionPage",
    "account_get_for_consent",
    "account_key_for_consent",
    "account_list_for_consent",
    "balance_list_for_account",
    "payment_links",
    "pending_links",
    "sync_status_for_consent",
    "syncrun_get_for_consent",
    "syncrun_interrupted",
    "transaction_date_range_for_consent",
    "transaction_delta_for_consent",
    "transaction_page_for_consent",
]


@dataclass(frozen=True, slots=True)
class TransactionFilters:
    """Validated filters of the transaction list (all optional)."""

    booked_from: dt.date | None = None
    booked_to: dt.date | None = None
    status: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None


@dataclass(frozen=True)
class TransactionPage:
    rows: list[dict[str, Any]]
    pending_ids: dict[tuple[int, str], Any]
    next_cursor: str | None
    transactions_from: dt.date | None
    transactions_to: dt.date | None


def account_list_for_consent(*, consent: Consent) -> QuerySet[Account]:
    """The consent's accounts (``consent_accounts``: the one visibility rule)."""
    return consent_accounts(consent=consent)


def account_get_for_consent(*, consent: Consent, account_id: uuid.UUID) -> Account:
    """One of the consent's accounts by public id; :class:`NotFoundError` for any other account."""
    account = consent_accounts(consent=consent).filter(public_id=account_id).first()
    if account is None:
        raise NotFoundError("No such account in this consent.")
    return account


# (consent id, account public id) → account key, per process, for ACCOUNT_KEY_TTL seconds. Safe to memoise: a
# consent's accounts are fixed when it is authorised, and the consent itself (status, expiry, permissions) is
# still checked on every request; only positive answers are kept, so a 404 is always fresh. It saves one query
# on the hottest endpoint; an account the bank stopped listing stays readable for at most the TTL.
ACCOUNT_KEY_TTL = 30.0
_ACCOUNT_KEYS: dict[tuple[Any, uuid.UUID], tuple[int, float]] = {}
_ACCOUNT_KEYS_MAX = 10_000


def account_key_for_consent(*, consent: Consent, account_id: uuid.UUID) -> int:
    """The internal key of the consent's account with this public id (one lean indexed lookup, memoised); as a
    subquery of the transaction query it would hide the account from PostgreSQL's row estimates."""
    now = time.monotonic()
    hit = _ACCOUNT_KEYS.get((consent.pk, account_id))
    if hit is not None and hit[1] > now:
        return hit[0]
    key = consent_accounts(consent=consent).filter(public_id=account_id).order_by().values_list("pk", flat=True).first()
    if key is None:
        raise NotFoundError("No such account in this consent.")
    if len(_ACCOUNT_KEYS) >= _ACCOUNT_KEYS_MAX:
        _ACCOUNT_KEYS.clear()
    _ACCOUNT_KEYS[(consent.pk, account_id)] = (key, now + ACCOUNT_KEY_TTL)
    return key


def balance_list_for_account(*, account: Account) -> QuerySet[Balance]:
    return Balance.objects.filter(account=account).order_by("type")


def transaction_date_range_for_consent(*, consent: Consent) -> tuple[dt.date | None, dt.date | None]:
    """The consent's transaction window as booking dates (UTC), either end open."""
    start = consent.transactions_from.astimezone(dt.UTC).date() if consent.transactions_from else None
    end = consent.transactions_to.astimezone(dt.UTC).date() if consent.transactions_to else None
    return start, end


def _in_range(qs: QuerySet[Transaction], start: dt.date | None, end: dt.date | None) -> QuerySet[Transaction]:
    if start:
        qs = qs.filter(booking_date__gte=start)
    if end:
        qs = qs.filter(booking_date__lte=end)
    return qs


def _transaction_list(*, consent: Consent, account_key: int, filters: TransactionFilters) -> QuerySet[Transaction]:
    """An account's live transactions inside the consent's date range and the filters, newest first in the total
    order ``(booking_date DESC, id DESC)`` of the ``txn_account_newest_idx`` index."""
    start, end = transaction_date_range_for_consent(consent=consent)
    if filters.booked_from and (start is None or filters.booked_from > start):
        start = filters.booked_from
    if filters.booked_to and (end is None or filters.booked_to < end):
        end = filters.booked_to
    qs = _in_range(Transaction.objects.filter(account_id=account_key, removed_at__isnull=True), start, end)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.min_amount is not None:
        qs = qs.filter(amount__gte=filters.min_amount)
    if filters.max_amount is not None:
        qs = qs.filter(amount__lte=filters.max_amount)
    return qs.order_by("-booking_date", "-id")


def pending_links(wanted: set[tuple[int, str]]) -> dict[tuple[int, str], Any]:
    """``(account pk, provider id)`` of pending transactions that booked ones replaced → their public ids (one
    query, and only when a page holds such a booked row)."""
    if not wanted:
        return {}
    rows = Transaction.objects.filter(
        account_id__in={a for a, _ in wanted},
        provider_transaction_id__in={p for _, p in wanted},
        status=Transaction.Status.PENDING,
    ).values_list("account_id", "provider_transaction_id", "public_id")
    return {(a, p): public_id for a, p, public_id in rows if (a, p) in wanted}


def payment_links(transaction_keys: set[int]) -> dict[int, Any]:
    """Transaction pk → the public id of the payment reconciled with it (one query, only for a non-empty set)."""
    if not transaction_keys:
        return {}
    return dict(Payment.objects.filter(transaction_id__in=transaction_keys).values_list("transaction_id", "public_id"))


def transaction_page_for_consent(
    *, consent: Consent, account_id: uuid.UUID, filters: TransactionFilters, page_size: int, cursor: str | None
) -> TransactionPage:
    """One keyset page of an account's transactions (see ``pagination.keyset_page``); the cursor is signed for
    the account, so it cannot be replayed against another one."""
    owner = str(account_id)
    after = None
    if cursor:
        pos = cursor_decode(cursor, purpose="transactions", owner=owner)
        try:
            after = (dt.date.fromisoformat(pos["d"]), int(pos["i"]))
        except (KeyError, TypeError, ValueError):
            raise InvalidCursorError() from None
    account_key = account_key_for_consent(consent=consent, account_id=account_id)
    queryset = _transaction_list(consent=consent, account_key=account_key, filters=filters)
    rows, last = keyset_page(queryset, after=after, page_size=page_size, fields=TRANSACTION_FIELDS)
    links = pending_links({(r["account_id"], r["pending_transaction_id"]) for r in rows if r["pending_transaction_id"]})
    next_cursor = None
    if last is not None:
        next_cursor = cursor_encode({"d": last[0].isoformat(), "i": last[1]}, purpose="transactions", owner=owner)
    start, end = transaction_date_range_for_consent(consent=consent)
    return TransactionPage(rows, links, next_cursor, start, end)


def transaction_delta_for_consent(*, consent: Consent, cursor: str | None, count: int) -> tuple[DeltaPage, str]:
    """One page of the delta feed over the consent's accounts and date range (rules: ``aggregator.delta``), and
    the cursor of what follows."""
    owner = str(consent.pk)
    position = delta_cursor_decode(cursor, owner=owner) if cursor else None
    start, end = transaction_date_range_for_consent(consent=consent)
    # The account keys as constants, not a subquery: the planner then reads only their partitions of the
    # transactions table (partitioned by account on PostgreSQL, aggregator/migrations/0013).
    account_keys = list(consent_accounts(consent=consent).order_by().values_list("pk", flat=True))
    visible = _in_range(Transaction.objects.filter(account_id__in=account_keys), start, end).select_related("account")
    page = transaction_delta(transactions=visible, position=position, count=count)
    return page, delta_cursor_encode(page.next_position, owner=owner)


def _consent_connections(*, consent: Consent) -> QuerySet[Connection]:
    return Connection.objects.filter(accounts__in=consent_accounts(consent=consent).values("pk")).values("pk")


def sync_status_for_consent(*, consent: Consent) -> SyncStatus:
    """Whether a sync of the consent's connections is in progress and whether their history is complete
    (``aggregator.sync.status``)."""
    return connections_sync_status(connection_ids=_consent_connections(consent=consent).values_list("pk", flat=True))


def syncrun_interrupted(*, run: SyncRun) -> bool:
    return sync_run_interrupted(run)


def syncrun_get_for_consent(*, consent: Consent, sync_id: uuid.UUID) -> SyncRun:
    """A sync run of one of the consent's connections by public id; :class:`NotFoundError` otherwise."""
    run = SyncRun.objects.filter(
        public_id=sync_id, connection_id__in=_consent_connections(consent=consent)
    ).select_related("connection__institution")
    found = run.first()
    if found is None:
        raise NotFoundError("No such sync for this consent.")
    return found
