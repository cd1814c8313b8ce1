"""The one small interface every bank adapter implements, and the types it speaks.

An adapter turns one bank API dialect into these frozen dataclasses: ``Decimal`` amounts signed from the
account holder's point of view (negative = money out), ISO 4217 currency codes, timezone-aware UTC datetimes
and plain dates where the bank gives dates. It never returns models or raw JSON (``raw`` fields carry the
bank's own record, as a dict, for audit only).

Errors: adapters raise only the ``ProviderError`` subclasses below, so the sync engine can act on them:

* ``TransientProviderError`` — retry later with backoff (timeouts, 5xx, truncated/malformed bodies).
* ``RateLimitedError`` — retry after ``retry_after`` seconds (the bank's ``Retry-After``).
* ``ReauthRequiredError`` — the user must reconnect (refresh token refused, consent expired/revoked).
* ``PermanentProviderError`` — a bug or a refusal that retrying will not fix; recorded and surfaced.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

__all__ = [
    "AccountData",
    "AuthorizationRequest",
    "BalanceData",
    "BankAdapter",
    "Credentials",
    "PermanentProviderError",
    "ProviderError",
    "RateLimitedError",
    "ReauthRequiredError",
    "TransactionData",
    "TransactionPage",
    "TransientProviderError",
]


# --- errors -------------------------------------------------------------------------------------------
class ProviderError(Exception):
    """Base of every error an adapter raises. ``code`` is a short machine-readable reason."""

    code: str = "provider_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class TransientProviderError(ProviderError):
    code = "transient"


class RateLimitedError(TransientProviderError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ReauthRequiredError(ProviderError):
    code = "reauth_required"


class PermanentProviderError(ProviderError):
    code = "permanent"


# --- data ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    """What we hold for one connection at the bank. Serialized to JSON and encrypted at rest."""

    access_token: str
    refresh_token: str = ""
    expires_at: datetime | None = None
    consent_id: str = ""
    consent_expires_at: datetime | None = None
    scope: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the user, and what to remember until the bank redirects back (keep it server-side)."""

    url: str
    state: str
    code_verifier: str = ""
    consent_id: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountData:
    provider_account_id: str
    display_name: str
    type: str  # one of aggregator.models.Account.Type values
    currency: str
    subtype: str = ""
    iban: str = ""
    sort_code: str = ""
    account_number: str = ""
    masked_pan: str = ""
    holder_name: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BalanceData:
    provider_account_id: str
    type: str  # one of aggregator.models.Balance.Type values
    amount: Decimal
    currency: str
    as_of: datetime
    credit_line_included: bool = False
    credit_limit: Decimal | None = None


@dataclass(frozen=True)
class TransactionData:
    provider_transaction_id: str
    provider_account_id: str
    status: str  # "booked" | "pending"
    booking_date: date
    amount: Decimal  # signed: negative = money out
    currency: str
    booked_at: datetime | None = None
    value_date: date | None = None
    description: str = ""
    merchant_name: str = ""
    category: str = ""
    counterparty_name: str = ""
    bank_transaction_code: str = ""
    pending_transaction_id: str = ""  # a booked item that replaced a pending one: that one's id
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TransactionPage:
    """One page of transactions.

    Date-window dialects fill ``transactions`` (everything the bank holds in the window, booked and pending).
    Cursor dialects also fill ``modified`` / ``removed_ids`` and ``next_cursor``. ``has_more`` tells the caller
    to ask again (with ``next_cursor`` or ``page_token``).
    """

    transactions: tuple[TransactionData, ...] = ()
    modified: tuple[TransactionData, ...] = ()
    removed_ids: tuple[str, ...] = ()
    has_more: bool = False
    next_cursor: str = ""
    page_token: str = ""


# --- the interface ------------------------------------------------------------------------------------
class BankAdapter(abc.ABC):
    """One bank API dialect. Instances are cheap; one serves one institution's configuration.

    ``sync_mode`` is ``"window"`` (fetch by booking-date window with an overlap) or ``"cursor"`` (the bank's
    own delta cursor).
    """

    name: ClassVar[str]
    sync_mode: ClassVar[str] = "window"
    # Unattended (no user present) calls per account per day the bank allows; None = no limit known.
    unattended_calls_per_day: ClassVar[int | None] = None

    def __init__(self, institution_config: Mapping[str, Any]) -> None:
        self.config = dict(institution_config)

    @abc.abstractmethod
    def start_authorization(self, *, redirect_uri: str, user_hint: str = "") -> AuthorizationRequest:
        """Create the bank-side consent where the dialect has one and build the authorize URL (PKCE when
        supported)."""

    @abc.abstractmethod
    def exchange_code(self, *, code: str, redirect_uri: str, auth: AuthorizationRequest) -> Credentials:
        """Exchange the authorization code the bank sent back for credentials."""

    @abc.abstractmethod
    def refresh(self, credentials: Credentials) -> Credentials:
        """New credentials from the refresh token; ``ReauthRequiredError`` when the bank refuses it."""

    @abc.abstractmethod
    def list_accounts(self, credentials: Credentials) -> list[AccountData]: ...

    @abc.abstractmethod
    def get_balances(self, credentials: Credentials, account: AccountData) -> list[BalanceData]: ...

    @abc.abstractmethod
    def iter_transactions(
        self,
        credentials: Credentials,
        account: AccountData,
        *,
        since: date | None = None,
        until: date | None = None,
        cursor: str = "",
    ) -> Iterator[TransactionPage]:
        """Yield pages of transactions. Window dialects honour ``since``/``until`` (the caller adds the
        overlap); cursor dialects resume from ``cursor`` (and may ignore ``account`` if the bank's cursor spans
        all accounts — then they are called once per connection with the first account)."""

    def revoke(self, credentials: Credentials) -> None:  # noqa: B027 - optional hook
        """Revoke the bank-side consent, where the dialect supports it."""
