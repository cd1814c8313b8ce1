"""The one small interface every bank adapter implements, and the types it speaks.

An adapter turns one bank API dialect into these frozen dataclasses: ``Decimal`` amounts signed from the
account holder's point of view (negative = money out), ISO 4217 currency codes, timezone-aware UTC datetimes
and plain dates where the bank gives dates. It never returns models or raw JSON (``raw`` fields carry the
bank's own record, as a dict, for audit only).

Errors: adapters raise only the ``ProviderError`` subclasses below, so the sync engine can act on them:

* ``TransientProviderError`` — retry later with backoff (timeouts, 5xx, truncated/malformed bodies).
* ``RateLimitedError`` — retry after ``retry_after`` seconds (the bank's ``Retry-After``).
* ``AccessTokenExpiredError`` — a transient error: the bank refused the *access* token (it expired early or
  mid-sync). Refresh the credentials (``adapter.refresh``) and retry; never a reason for ``reauth_required``.
* ``ReauthRequiredError`` — the user must reconnect (refresh token refused, consent expired/revoked).
* ``PermanentProviderError`` — a bug or a refusal that retrying will not fix; recorded and surfaced.
* ``ClientRejectedError`` — a ``PermanentProviderError``: the bank refuses *this aggregator* (its OAuth client
  registration, secret, grant or scope: RFC 6749 ``invalid_client``, ``unauthorized_client``, ``invalid_scope``,
  ``unsupported_grant_type``, ``invalid_request``). An operator must fix the configuration; neither a retry nor
  the user reconnecting helps. The message says what to fix.

The bank's OAuth error answers map onto these in one table, ``providers.oauth_errors``.
* ``NotSupportedError`` — the adapter's dialect has no such capability (an optional method such as ``revoke``).

Secrets: ``Credentials`` and ``AuthorizationRequest`` never show tokens in ``repr`` (logs, tracebacks).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from django.utils import timezone

__all__ = [
    "AccessTokenExpiredError",
    "AccountData",
    "AuthorizationRequest",
    "BalanceData",
    "BankAdapter",
    "BankPayment",
    "ClientRejectedError",
    "Credentials",
    "NotSupportedError",
    "PaymentInstruction",
    "PaymentRejectedError",
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


class AccessTokenExpiredError(TransientProviderError):
    """The access token was refused: refresh the credentials, then retry (the refresh token decides)."""

    code = "token_expired"


class ReauthRequiredError(ProviderError):
    code = "reauth_required"


class PermanentProviderError(ProviderError):
    code = "permanent"


class ClientRejectedError(PermanentProviderError):
    """The bank refuses our client or our request as such (configuration, not the user or the moment)."""

    code = "client_rejected"


class NotSupportedError(PermanentProviderError):
    """The dialect (or this bank) does not offer an optional capability; nothing was sent to the bank."""

    code = "not_supported"


class PaymentRejectedError(PermanentProviderError):
    """The bank refused a payment instruction as such (funds, payee check, limits, a changed instruction under
    the same idempotency key). ``reason_code`` is the dialect's own code (OBIE ``ErrorCode`` such as
    ``UK.OBIE.Rules.FailsControlParameters`` / a status reason, Berlin Group ``tppMessages[].code`` or a
    ``RJCT`` reason such as ``AM04``); ``reason`` the bank's human text."""

    code = "payment_rejected"

    def __init__(self, message: str, *, reason_code: str = "", reason: str = "", code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.reason_code = reason_code
        self.reason = reason or message


# --- data ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Credentials:
    """What we hold for one connection at the bank. Serialized to JSON and encrypted at rest
    (``providers.credentials``); its ``repr`` hides the tokens."""

    access_token: str
    refresh_token: str = ""
    expires_at: datetime | None = None
    consent_id: str = ""
    consent_expires_at: datetime | None = None
    scope: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Credentials(access_token='***', refresh_token={'***' if self.refresh_token else ''!r}, "
            f"expires_at={self.expires_at!r}, consent_id={self.consent_id!r})"
        )

    __str__ = __repr__

    def needs_refresh(self, *, now: datetime | None = None, leeway: float = 60.0) -> bool:
        """True when the access token expires within ``leeway`` seconds (and a refresh token exists)."""
        if not self.refresh_token or self.expires_at is None:
            return False
        now = now or timezone.now()
        return (self.expires_at - now).total_seconds() <= leeway


@dataclass(frozen=True, repr=False)
class AuthorizationRequest:
    """Where to send the user, and what to remember until the bank redirects back (keep it server-side)."""

    url: str
    state: str
    code_verifier: str = ""
    consent_id: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"AuthorizationRequest(state='***', consent_id={self.consent_id!r}, code_verifier='***')"

    __str__ = __repr__


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
    # The last digits of the account number when the bank shows only those (a US "mask"), never a full number.
    account_number_mask: str = ""


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
    # The end-to-end identification the initiator gave the payment (ours, for a payment we initiated): the
    # reconciliation key between a ``BankPayment`` and the booked transaction it produced. "" when none.
    end_to_end_id: str = ""
    merchant_category_code: str = ""  # ISO 18245 MCC of a card payment, where the bank sends one


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


# --- payments (PIS) -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaymentInstruction:
    """One credit transfer the user approved, as the bank must execute it. ``amount`` is positive (the
    debtor pays it). The creditor is either ``creditor_iban`` or ``creditor_sort_code`` +
    ``creditor_account_number``; the debtor likewise (the account the user picked). ``end_to_end_id``
    (≤ 35 chars, ours) travels with the payment and comes back on the booked transaction — the reconciliation
    key; ``instruction_id`` (≤ 35 chars, ours) identifies the instruction at the bank.
    ``requested_execution_date`` set = a scheduled (future-dated) payment; ``instant`` asks for an instant
    scheme where the dialect has one (Berlin Group ``instant-sepa-credit-transfers``)."""

    instruction_id: str
    end_to_end_id: str
    amount: Decimal
    currency: str
    creditor_name: str
    creditor_iban: str = ""
    creditor_sort_code: str = ""
    creditor_account_number: str = ""
    debtor_iban: str = ""
    debtor_sort_code: str = ""
    debtor_account_number: str = ""
    debtor_provider_account_id: str = ""
    reference: str = ""
    requested_execution_date: date | None = None
    instant: bool = False


@dataclass(frozen=True)
class BankPayment:
    """What the bank says about a payment (or, before execution, its payment consent).

    ``status`` is ours, normalised: ``pending`` (received / awaiting authorisation / pending),
    ``accepted`` (accepted, settlement in process / ACTC, ACCP, ACSP, ACWC…), ``settled``
    (AcceptedSettlementCompleted / ACSC, ACCC) or ``rejected`` (Rejected / RJCT, CANC). ``bank_status`` is the
    bank's own word, ``reason_code`` / ``reason`` the bank's reason when it gives one."""

    bank_payment_id: str
    status: str
    bank_status: str
    reason_code: str = ""
    reason: str = ""
    bank_consent_id: str = ""
    end_to_end_id: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)


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
    # Cursor dialects: True when one cursor covers every account of the connection.
    cursor_spans_accounts: ClassVar[bool] = False
    # Optional capability: the bank lets us end its consent / authorization (see ``revoke``).
    supports_revoke: ClassVar[bool] = False
    # Optional capability: payment initiation (the ``*payment*`` methods below).
    supports_payments: ClassVar[bool] = False
    supports_scheduled_payments: ClassVar[bool] = False
    supports_funds_confirmation: ClassVar[bool] = False

    def __init__(self, institution_config: Mapping[str, Any], *, psu_ip_address: str = "") -> None:
        # ``psu_ip_address``: set when the user is present (connect flow); dialects that distinguish attended
        # from unattended access (Berlin Group's frequencyPerDay) send it so those calls are not counted.
        self.config = dict(institution_config)
        self.psu_ip_address = psu_ip_address

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
        """Yield every page of transactions, in order, following the bank's pagination itself.

        Window dialects honour ``since``/``until`` (the caller adds the overlap). Cursor dialects resume from
        ``cursor`` and ignore ``account`` when the bank's cursor spans all accounts (``cursor_spans_accounts``):
        call them once per connection. Each page's ``next_cursor`` is the position *after* that page — persist
        it only once the page is stored, so a crash resumes without losses. ``has_more`` says another page
        follows. A page that cannot be parsed raises ``TransientProviderError``: never partial data."""

    def revoke(self, credentials: Credentials) -> None:
        """Optional capability: end the bank-side consent / authorization behind ``credentials``, so the bank
        stops honouring our tokens (OBIE ``DELETE /account-access-consents/{id}``, Berlin Group
        ``DELETE /v1/consents/{consentId}``, a cursor-delta bank's item removal).

        Adapters that implement it set ``supports_revoke = True``. The default sends nothing and raises
        ``NotSupportedError``: callers check ``supports_revoke`` (or catch it) and tell the user the bank-side
        access could not be ended from here. Revoking an already-ended consent is not an error.
        ``AccessTokenExpiredError`` means: refresh the credentials and call again."""
        raise NotSupportedError(f"{self.name}: the bank offers no way to revoke its consent from here")

    # --- payments (optional capability; ``supports_payments``) ------------------------------------------
    # The flow every dialect fits: (1) ``start_payment_authorization`` creates the bank-side object the user
    # must authorise (OBIE: a domestic(-scheduled)-payment-consent; Berlin Group: the payment itself, status
    # RCVD) and returns where to send the user (the bank's own login/SCA) plus what to keep server-side;
    # (2) ``complete_payment_authorization`` turns the bank's redirect back into credentials for this payment
    # only; (3) ``submit_payment`` makes the bank execute it (OBIE: POST domestic(-scheduled)-payments; Berlin
    # Group: the SCA already released it, so it reads its status) — safe to call again with the same
    # ``idempotency_key`` after a timeout: the bank returns the same payment, never a second one;
    # (4) ``get_payment`` follows its status. Every call that creates something at the bank sends
    # ``idempotency_key`` as the dialect's idempotency header (OBIE ``x-idempotency-key``).
    # Errors: ``PaymentRejectedError`` (refused as such, with the dialect's reason code),
    # ``TransientProviderError`` (retry with the same key), ``NotSupportedError`` (no payments here).

    def start_payment_authorization(
        self, instruction: PaymentInstruction, *, idempotency_key: str, redirect_uri: str
    ) -> AuthorizationRequest:
        """Create the bank-side payment consent / payment and build the URL of the bank's SCA. The returned
        request's ``consent_id`` is the bank's payment consent id (OBIE) or payment id (Berlin Group);
        ``extra`` carries what ``submit_payment`` needs (JSON-ready)."""
        raise NotSupportedError(f"{self.name}: this bank offers no payment initiation")

    def complete_payment_authorization(
        self, *, code: str, redirect_uri: str, auth: AuthorizationRequest
    ) -> Credentials:
        """After the bank redirected back from its SCA: credentials bound to this payment (``code`` may be
        empty for dialects whose redirect carries none)."""
        raise NotSupportedError(f"{self.name}: this bank offers no payment initiation")

    def submit_payment(
        self,
        credentials: Credentials,
        instruction: PaymentInstruction,
        *,
        auth: AuthorizationRequest,
        idempotency_key: str,
    ) -> BankPayment:
        """Make the bank execute the authorised instruction; idempotent per ``idempotency_key``."""
        raise NotSupportedError(f"{self.name}: this bank offers no payment initiation")

    def get_payment(self, credentials: Credentials, bank_payment_id: str) -> BankPayment:
        """The payment's status now."""
        raise NotSupportedError(f"{self.name}: this bank offers no payment initiation")

    def confirm_funds(self, credentials: Credentials, *, auth: AuthorizationRequest) -> bool:
        """Whether the debtor account holds the instruction's amount now (OBIE funds-confirmation)."""
        raise NotSupportedError(f"{self.name}: this bank offers no funds confirmation")
