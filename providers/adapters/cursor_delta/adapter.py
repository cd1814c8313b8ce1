"""US cursor-delta dialect adapter (FDX / US-aggregator style: ``/transactions/sync`` with a delta cursor).

Flow: plain OAuth 2.0 authorization code with PKCE (no bank-side consent object) → access + rotating refresh
token. ``GET /accounts`` lists accounts (with their balances); ``GET /transactions/sync?cursor=&count=``
returns ``added``, ``modified``, ``removed`` and ``next_cursor``/``has_more`` across *all* the user's
accounts (``cursor_spans_accounts``): the adapter is called once per connection and follows ``has_more``.

Normalization rules:

* **Amount sign**: amounts are unsigned with a ``DEBIT``/``CREDIT`` marker; ``DEBIT`` → negative (money out),
  ``CREDIT`` → positive. Card accounts follow the same rule from the holder's side (a purchase is a DEBIT).
  Balances are given signed from the holder's point of view except ``current`` on credit accounts, which is
  the amount owed (positive) and becomes negative.
* **Dates**: timestamps, no dates: ``posted_at`` (posted) or ``authorized_at`` (pending) → ``booked_at`` (aware
  UTC) and its UTC date → ``booking_date``. The dialect has no value date: ``value_date`` is None.
* **Status**: ``pending`` ``false`` → booked, ``true`` → pending (a ``status`` of ``posted``/``pending``, where
  a bank sends one, wins). A posted item carries the pending item's id
  in ``pending_transaction_id``; the pending one arrives in ``removed``.
* **Texts**: ``description`` (else ``name``) → description; ``merchant_name`` → merchant;
  ``counterparty`` → counterparty; ``category`` (a list is joined with " > ") → category;
  ``transaction_code`` → bank_transaction_code.
* **Accounts**: ``type``/``subtype`` (depository/checking, depository/savings, credit/credit card) → type;
  ``holder_name``. Identifiers, the best the bank offers: the full account number from ``GET /numbers``
  (deposit accounts; a bank that refuses it — 403/404 — leaves the mask alone); ``mask`` (last 4 digits) →
  the masked PAN of card accounts (``************1234``) and ``account_number_mask`` of the others.
* **Balances** (from ``GET /accounts``): ``current`` → booked, ``available`` → available. Credit accounts report
  the amount owed as a positive ``current`` (US convention): negated here. ``limit`` → credit limit, and a
  card's available balance counts the credit line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ...base import (
    AccountData,
    AuthorizationRequest,
    BalanceData,
    Credentials,
    PermanentProviderError,
    TransactionData,
    TransactionPage,
)
from ...oauth import authorization_request_build
from ..common import OAuthBankAdapter, as_currency, as_datetime, as_decimal, malformed
from . import constants
from .client import CursorDeltaClient

__all__ = ["CursorDeltaAdapter"]

logger = logging.getLogger(__name__)


def _first(raw: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if raw.get(key) not in (None, ""):
            return raw[key]
    return None


class CursorDeltaAdapter(OAuthBankAdapter[CursorDeltaClient]):
    name = "cursor_delta"
    sync_mode = "cursor"
    cursor_spans_accounts = True
    supports_revoke = True

    client_class = CursorDeltaClient

    # --- authorization -----------------------------------------------------------------------------
    def start_authorization(self, *, redirect_uri: str, user_hint: str = "") -> AuthorizationRequest:
        client = self.client
        return authorization_request_build(
            server=client.server(),
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=self.config.get("scope", constants.AUTHORIZE_SCOPE),
            user_hint=user_hint,
        )

    def revoke(self, credentials: Credentials) -> None:
        """The dialect has no consent object: removing the item ends the user's authorization at the bank."""
        self.client.item_remove(credentials)

    # --- accounts and balances ---------------------------------------------------------------------
    def list_accounts(self, credentials: Credentials) -> list[AccountData]:
        client = self.client
        accounts = [self.normalize_account(raw) for raw in client.accounts(credentials).get("accounts") or []]
        if not any(a.type != "credit_card" for a in accounts):
            return accounts
        try:
            numbers = self.normalize_numbers(client.numbers(credentials))
        except PermanentProviderError as exc:  # no numbers at this bank (or not for us): the masks stay
            logger.info("account numbers unavailable at %s: %s (%s)", client.base_url, exc, exc.code)
            return accounts
        return [
            replace(account, account_number=numbers[account.provider_account_id])
            if account.provider_account_id in numbers and account.type != "credit_card"
            else account
            for account in accounts
        ]

    @staticmethod
    def normalize_numbers(body: dict[str, Any]) -> dict[str, str]:
        """Account id → full account number, from ``GET /numbers``."""
        result = {}
        for item in body.get("numbers") or []:
            if not isinstance(item, dict) or not item.get("account_id"):
                raise malformed("numbers entry without account_id")
            number = str(item.get("account_number") or "").replace(" ", "")
            if number:
                result[str(item["account_id"])] = number
        return result

    @staticmethod
    def normalize_account(raw: dict[str, Any]) -> AccountData:
        account_id = raw.get("account_id") or raw.get("id")
        if not account_id:
            raise malformed("account without account_id")
        subtype = str(raw.get("subtype") or raw.get("type") or "")
        currency = _first(raw, "iso_currency_code", "currency") or (raw.get("balances") or {}).get("iso_currency_code")
        number = str(raw.get("account_number") or "")
        mask = str(raw.get("mask") or "")
        kind = constants.ACCOUNT_TYPES.get(
            subtype.lower(), constants.ACCOUNT_TYPES.get(str(raw.get("type", "")).lower(), "other")
        )
        return AccountData(
            provider_account_id=str(account_id),
            display_name=str(_first(raw, "name", "official_name", "nickname") or account_id),
            type=kind,
            subtype=subtype,
            currency=as_currency(currency, "account currency"),
            account_number=number,
            masked_pan=("*" * 12 + mask[-4:]) if kind == "credit_card" and mask and not number else "",
            account_number_mask=mask[-4:] if kind != "credit_card" else "",
            holder_name=str(_first(raw, "holder_name", "owner_name") or ""),
            raw=raw,
        )

    def get_balances(self, credentials: Credentials, account: AccountData) -> list[BalanceData]:
        for raw in self.client.accounts(credentials).get("accounts") or []:
            if str(raw.get("account_id") or raw.get("id")) == account.provider_account_id:
                return self.normalize_balances(raw, account)
        return []

    @staticmethod
    def normalize_balances(raw: dict[str, Any], account: AccountData) -> list[BalanceData]:
        balances = raw.get("balances") or {}
        currency = as_currency(balances.get("iso_currency_code") or account.currency, "balance currency")
        stamp = _first(balances, "as_of", "last_updated_at", "updated_at") or raw.get("as_of")
        as_of = as_datetime(stamp, "balances.as_of") if stamp else timezone.now()
        limit = as_decimal(balances["limit"], "balances.limit") if balances.get("limit") not in (None, "") else None
        result = []
        owed = account.type == "credit_card"
        for source, kind in (("current", "booked"), ("available", "available")):
            value = balances.get(source)
            if value in (None, ""):
                continue
            amount = as_decimal(value, f"balances.{source}")
            if owed and source == "current":
                amount = -amount
            result.append(
                BalanceData(
                    provider_account_id=account.provider_account_id,
                    type=kind,
                    amount=amount,
                    currency=currency,
                    as_of=as_of,
                    credit_line_included=owed and source == "available",
                    credit_limit=limit,
                )
            )
        return result

    # --- transactions ------------------------------------------------------------------------------
    def iter_transactions(
        self,
        credentials: Credentials,
        account: AccountData,
        *,
        since: date | None = None,
        until: date | None = None,
        cursor: str = "",
    ) -> Iterator[TransactionPage]:
        count = int(self.config.get("page_size", constants.PAGE_SIZE))
        client = self.client
        while True:
            body = client.transactions_sync(credentials, cursor=cursor, count=count)
            for key in ("added", "modified", "removed", "next_cursor", "has_more"):
                if key not in body:
                    raise malformed(f"transactions/sync response without {key!r}")
            next_cursor = str(body["next_cursor"] or "")
            page = TransactionPage(
                transactions=tuple(self.normalize_transaction(raw) for raw in body["added"]),
                modified=tuple(self.normalize_transaction(raw) for raw in body["modified"]),
                removed_ids=tuple(
                    str(item.get("transaction_id") if isinstance(item, dict) else item) for item in body["removed"]
                ),
                has_more=bool(body["has_more"]),
                next_cursor=next_cursor,
            )
            yield page
            if not page.has_more:
                return
            if not next_cursor or next_cursor == cursor:
                raise malformed("transactions/sync has_more without a new next_cursor")
            cursor = next_cursor

    @staticmethod
    def normalize_transaction(raw: dict[str, Any]) -> TransactionData:
        transaction_id = raw.get("transaction_id")
        account_id = raw.get("account_id")
        if not transaction_id or not account_id:
            raise malformed("transaction without transaction_id/account_id")
        marker = str(_first(raw, "direction", "credit_debit_indicator") or "").upper()
        amount = as_decimal(raw.get("amount"), "amount")
        if amount < 0:
            raise malformed(f"amount must be unsigned in this dialect, got {amount}")
        if marker == constants.DEBIT:
            signed: Decimal = -amount
        elif marker == constants.CREDIT:
            signed = amount
        else:
            raise malformed(f"DEBIT/CREDIT marker missing or unknown: {marker!r}")
        status = str(raw.get("status") or ("pending" if raw.get("pending") else "posted")).lower()
        if status not in ("pending", "posted"):
            raise malformed(f"transaction status must be pending or posted, got {status!r}")
        pending = status == "pending"
        posted = raw.get("posted_at")
        authorized = raw.get("authorized_at")
        when = as_datetime((authorized if pending else posted) or authorized, "posted_at/authorized_at")
        category = raw.get("category") or ""
        if isinstance(category, list):
            category = " > ".join(str(c) for c in category)
        merchant = str(raw.get("merchant_name") or "")
        return TransactionData(
            provider_transaction_id=str(transaction_id),
            provider_account_id=str(account_id),
            status="pending" if pending else "booked",
            booking_date=when.date(),
            booked_at=when,
            value_date=None,
            amount=signed,
            currency=as_currency(_first(raw, "iso_currency_code", "currency"), "currency"),
            description=str(raw.get("description") or raw.get("name") or ""),
            merchant_name=merchant,
            category=str(category),
            counterparty_name=str(raw.get("counterparty") or ""),
            bank_transaction_code=str(raw.get("transaction_code") or ""),
            pending_transaction_id=str(raw.get("pending_transaction_id") or ""),
            raw=raw,
            merchant_category_code=_mcc(raw.get("merchant_category_code")),
        )


def _mcc(value: object) -> str:
    """An ISO 18245 merchant category code (4 digits), or "" for anything else."""
    text = str(value or "")
    return text if len(text) == 4 and text.isdigit() else ""
