"""Read-side queries of the normalized data (services write, selectors read).

Shared module: the data API's functions are prefixed ``account_`` / ``balance_`` / ``transaction_`` /
``syncrun_``; the sync engine adds its own. Every function a third party's request goes through takes the
``consent`` and applies it — its accounts, its transaction date range — so a view cannot forget to.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import connection as db_connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import Account, Balance, Connection, SyncRun, Transaction

if TYPE_CHECKING:
    from consent.models import Consent

__all__ = [
    "TransactionFilters",
    "account_get_for_consent",
    "account_key_for_consent",
    "account_list_for_consent",
    "balance_list_for_account",
    "syncrun_get_for_consent",
    "transaction_change_watermark",
    "transaction_changes_for_consent",
    "transaction_date_range_for_consent",
    "transaction_list",
]


@dataclass(frozen=True, slots=True)
class TransactionFilters:
    """Validated filters of the transaction list (all optional)."""

    booked_from: dt.date | None = None
    booked_to: dt.date | None = None
    status: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None


def account_list_for_consent(*, consent: Consent) -> QuerySet[Account]:
    """The consent's accounts: ticked by the user, on the user's own connections, not removed upstream."""
    return (
        Account.objects.filter(consents=consent, removed_at__isnull=True, connection__user_id=consent.user_id)
        .select_related("connection__institution")
        .order_by("connection_id", "display_name", "id")
    )


def account_get_for_consent(*, consent: Consent, account_id: Any) -> Account | None:
    """One of the consent's accounts by public id, or ``None`` — the caller answers 404 either way."""
    return account_list_for_consent(consent=consent).filter(public_id=account_id).first()


def account_key_for_consent(*, consent: Consent, account_id: Any) -> int | None:
    """The internal key of the consent's account with this public id, or ``None``: one lean indexed lookup. (As a
    subquery of the transaction query it would hide the account from PostgreSQL's row estimates, and the planner
    would then sort the account's rows instead of walking ``txn_account_newest_idx``.)"""
    return (
        Account.objects.filter(
            public_id=account_id, consents=consent, removed_at__isnull=True, connection__user_id=consent.user_id
        )
        .order_by()
        .values_list("pk", flat=True)
        .first()
    )


def balance_list_for_account(*, account: Account) -> QuerySet[Balance]:
    return Balance.objects.filter(account=account).order_by("type")


def transaction_date_range_for_consent(*, consent: Consent) -> tuple[dt.date | None, dt.date | None]:
    """The consent's transaction window as booking dates (UTC), either end open."""
    start = consent.transactions_from.astimezone(dt.UTC).date() if consent.transactions_from else None
    end = consent.transactions_to.astimezone(dt.UTC).date() if consent.transactions_to else None
    return start, end


def transaction_list(*, consent: Consent, account: Account | int, filters: TransactionFilters) -> QuerySet[Transaction]:
    """An account's live transactions inside the consent's date range and the filters, newest first with a
    total, stable order ``(booking_date DESC, id DESC)`` — the order of the ``txn_account_newest_idx`` index, so
    keyset pagination on it reads only the rows of one page at any depth. ``account`` is an ``Account`` or the key
    returned by :func:`account_key_for_consent` (the consent check)."""
    start, end = transaction_date_range_for_consent(consent=consent)
    if filters.booked_from and (start is None or filters.booked_from > start):
        start = filters.booked_from
    if filters.booked_to and (end is None or filters.booked_to < end):
        end = filters.booked_to
    account_key = account.pk if isinstance(account, Account) else account
    qs = Transaction.objects.filter(account_id=account_key, removed_at__isnull=True)
    if start:
        qs = qs.filter(booking_date__gte=start)
    if end:
        qs = qs.filter(booking_date__lte=end)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.min_amount is not None:
        qs = qs.filter(amount__gte=filters.min_amount)
    if filters.max_amount is not None:
        qs = qs.filter(amount__lte=filters.max_amount)
    return qs.order_by("-booking_date", "-id")


def transaction_change_watermark(*, lag: dt.timedelta) -> dt.datetime:
    """The newest ``updated_at`` the delta feed may hand out now without risking to skip a concurrent commit.

    A row becomes visible when its transaction commits, which can be later than the ``updated_at`` it was stamped
    with. So the feed only hands out rows stamped before ``now - lag`` and, on PostgreSQL, before the start of the
    oldest transaction that is still writing (a writer's stamps are never older than its transaction): anything
    still uncommitted is then newer than the watermark and will be picked up by the next call.
    """
    watermark = timezone.now() - lag
    if db_connection.vendor == "postgresql":
        with db_connection.cursor() as cursor:
            cursor.execute(
                "SELECT min(xact_start) FROM pg_stat_activity "
                "WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
            )
            oldest = cursor.fetchone()[0]
        if oldest is not None and oldest - lag < watermark:
            watermark = oldest - lag
    return watermark


def transaction_changes_for_consent(
    *,
    consent: Consent,
    after: tuple[dt.datetime, int] | None,
    until: dt.datetime,
    limit: int,
) -> list[Transaction]:
    """Rows of the consent's accounts and date range changed after the keyset position ``after`` =
    ``(updated_at, id)`` and stamped no later than ``until``, in ``(updated_at, id)`` order, at most ``limit``.
    Without ``after`` (the first call) removed rows are left out: there is nothing to remove yet."""
    start, end = transaction_date_range_for_consent(consent=consent)
    qs = Transaction.objects.filter(
        account__consents=consent,
        account__removed_at__isnull=True,
        account__connection__user_id=consent.user_id,
        updated_at__lte=until,
    )
    if start:
        qs = qs.filter(booking_date__gte=start)
    if end:
        qs = qs.filter(booking_date__lte=end)
    if after is None:
        qs = qs.filter(removed_at__isnull=True)
    else:
        stamp, row_id = after
        qs = qs.filter(Q(updated_at__gt=stamp) | Q(updated_at=stamp, id__gt=row_id)).filter(updated_at__gte=stamp)
    return list(qs.select_related("account").order_by("updated_at", "id")[:limit])


def syncrun_get_for_consent(*, consent: Consent, sync_id: Any) -> SyncRun | None:
    """A sync run of one of the consent's connections by public id, or ``None``."""
    connections = Connection.objects.filter(accounts__in=account_list_for_consent(consent=consent).values("pk")).values(
        "pk"
    )
    return SyncRun.objects.filter(public_id=sync_id, connection_id__in=connections).first()
