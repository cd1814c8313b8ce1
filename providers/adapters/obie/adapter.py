"""UK Open Banking (OBIE) v3.1.11 Account and Transaction API adapter.

Flow: client-credentials token → ``POST /account-access-consents`` (permissions, expiry) → the user authorises
the ConsentId at the bank (``consent_id`` on the authorize URL, PKCE when the server supports S256) → code →
access + rotating refresh token. ``revoke`` deletes the consent.

Normalization rules (OBTransaction6 → ``TransactionData``):

* **Amount sign**: ``Amount.Amount`` is unsigned; ``CreditDebitIndicator`` ``Debit`` → negative (money out),
  ``Credit`` → positive. Balances likewise (a ``Debit`` balance is negative: overdrawn, or owed on a card).
* **Dates**: ``BookingDateTime`` → ``booked_at`` (aware UTC) and ``booking_date`` (its UTC date);
  ``ValueDateTime`` → ``value_date`` (its UTC date), absent → None.
* **Status**: ``Booked`` → booked, ``Pending`` → pending; ``Rejected`` entries are dropped.
* **Ids**: ``TransactionId``; when a bank omits it, a stable hash of the entry's identifying fields. A booked
  entry that replaced a pending one names it in ``SupplementaryData.PendingTransactionId`` (sandbox extension;
  OBIE itself has no such link) → ``pending_transaction_id``.
* **Texts**: ``TransactionInformation`` (else ``TransactionReference``) → description;
  ``MerchantDetails.MerchantName`` → merchant; counterparty = ``CreditorAccount.Name`` for debits,
  ``DebtorAccount.Name`` for credits (empty when the bank sends neither); category = ``SupplementaryData.Category``
  where the bank gives one, else the ISO 18245 ``MerchantCategoryCode`` as ``mcc:NNNN``;
  bank_transaction_code = the ISO 20022 ``Domain-Family-SubFamily`` code. OBIE's ``BankTransactionCode`` carries
  only ``Code`` (the *family* within a domain) and ``SubCode`` (the sub-family) — no domain — so when
  ``ProprietaryBankTransactionCode.Code`` is the full ISO code of that same family and sub-family (as Albion
  sends it: ``PMNT-ICDT-STDO``, ``Issuer`` Albion) it is taken whole; otherwise ``Code-SubCode`` (a bank's own
  proprietary vocabulary is not ISO); with no ``BankTransactionCode`` at all, the proprietary code as given.
* **End-to-end id**: ``SupplementaryData.EndToEndIdentification`` (OBTransaction6 has no such field; Albion
  puts the initiator's id of a PIS payment there) → ``end_to_end_id``, the payment reconciliation key.
* **Accounts**: ``AccountSubType`` → type (CurrentAccount/Savings/CreditCard…); ``Nickname`` (else
  ``Description``, else the first identification's ``Name``) → display name; ``UK.OBIE.SortCodeAccountNumber``
  (14 digits) → sort code + account number; ``UK.OBIE.IBAN`` → iban; ``UK.OBIE.PAN`` → masked PAN (only the
  last 4 digits kept); ``UK.OBIE.BBAN`` (a UK BBAN: 4-letter bank code + sort code + account number) → sort
  code + account number when no ``SortCodeAccountNumber`` came. The v2 names without ``UK.OBIE.`` are
  accepted too.
* **Balances**: ``ClosingBooked`` (else ``InterimBooked``) → booked, ``ClosingAvailable`` (else
  ``InterimAvailable``) → available, ``Expected`` → expected; ``CreditLine`` → ``credit_line_included`` and
  the ``Credit`` line amount as ``credit_limit``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from providers.conf import provider_settings

from ...base import (
    AccountData,
    AuthorizationRequest,
    BalanceData,
    BankPayment,
    Credentials,
    PaymentInstruction,
    TransactionData,
    TransactionPage,
)
from ...oauth import authorization_request_build
from ..common import OAuthBankAdapter, as_currency, as_date, as_datetime, as_decimal, malformed, stable_id
from . import constants
from .client import OBIEClient
from .payments import OBIEPayments

__all__ = ["OBIEAdapter"]


def _signed(amount: Decimal, indicator: Any, what: str) -> Decimal:
    if indicator == "Debit":
        return -amount
    if indicator == "Credit":
        return amount
    raise malformed(f"{what}: CreditDebitIndicator must be Credit or Debit, got {indicator!r}")


def _bank_transaction_code(raw: dict[str, Any]) -> str:
    """The ISO 20022 ``Domain-Family-SubFamily`` code where the entry gives it (see the module docstring)."""
    iso = raw.get("BankTransactionCode") or {}
    family, sub_family = str(iso.get("Code") or ""), str(iso.get("SubCode") or "")
    proprietary = str((raw.get("ProprietaryBankTransactionCode") or {}).get("Code") or "")
    if not (family and sub_family):
        return proprietary
    # OBIE's BankTransactionCode has no domain; a bank whose proprietary code is the full ISO code of the same
    # family and sub-family gives the domain back. Any other proprietary code is the bank's own vocabulary.
    parts = proprietary.split("-")
    if len(parts) == 3 and all(parts) and parts[1:] == [family, sub_family]:
        return proprietary
    return f"{family}-{sub_family}"


def _mask_pan(pan: str) -> str:
    digits = pan.replace(" ", "")
    return "*" * max(len(digits) - 4, 0) + digits[-4:] if digits else ""


class OBIEAdapter(OAuthBankAdapter[OBIEClient]):
    name = "obie"
    supports_revoke = True
    sync_mode = "window"
    supports_payments = True
    supports_scheduled_payments = True
    supports_funds_confirmation = True

    client_class = OBIEClient

    # --- authorization -----------------------------------------------------------------------------
    def start_authorization(self, *, redirect_uri: str, user_hint: str = "") -> AuthorizationRequest:
        client = self.client
        token = client.client_credentials_token()
        max_days = int(provider_settings.CONSENT_MAX_DAYS)
        expires_at = timezone.now().replace(microsecond=0) + timedelta(days=max_days)
        body = client.consent_create(
            token=token,
            permissions=tuple(self.config.get("permissions", constants.PERMISSIONS)),
            expires_at=expires_at,
            transactions_from=None,
        )
        data = body.get("Data") or {}
        consent_id = str(data.get("ConsentId") or "")
        if not consent_id:
            raise malformed("account-access-consent response without Data.ConsentId")
        return authorization_request_build(
            server=client.server(),
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=self.config.get("scope", constants.AUTHORIZE_SCOPE),
            consent_id=consent_id,
            user_hint=user_hint,
            extra={"consent_expires_at": str(data.get("ExpirationDateTime") or expires_at.isoformat())},
        )

    def revoke(self, credentials: Credentials) -> None:
        if credentials.consent_id:
            client = self.client
            client.consent_delete(token=client.client_credentials_token(), consent_id=credentials.consent_id)

    # --- payments (Payment Initiation API; see .payments) ------------------------------------------
    @property
    def payments(self) -> OBIEPayments:
        return OBIEPayments(self.client, self.config.get("pis_prefix", ""))

    def start_payment_authorization(
        self, instruction: PaymentInstruction, *, idempotency_key: str, redirect_uri: str
    ) -> AuthorizationRequest:
        return self.payments.start(instruction, idempotency_key=idempotency_key, redirect_uri=redirect_uri)

    def complete_payment_authorization(
        self, *, code: str, redirect_uri: str, auth: AuthorizationRequest
    ) -> Credentials:
        return self.exchange_code(code=code, redirect_uri=redirect_uri, auth=auth)

    def submit_payment(
        self,
        credentials: Credentials,
        instruction: PaymentInstruction,
        *,
        auth: AuthorizationRequest,
        idempotency_key: str,
    ) -> BankPayment:
        return self.payments.submit(credentials, auth=auth, idempotency_key=idempotency_key)

    def get_payment(self, credentials: Credentials, bank_payment_id: str) -> BankPayment:
        return self.payments.get(bank_payment_id)

    def confirm_funds(self, credentials: Credentials, *, auth: AuthorizationRequest) -> bool:
        return self.payments.funds(credentials, auth=auth)

    # --- accounts and balances ---------------------------------------------------------------------
    def list_accounts(self, credentials: Credentials) -> list[AccountData]:
        accounts: list[AccountData] = []
        for page in self.client.pages("/accounts", credentials):
            for raw in (page.get("Data") or {}).get("Account") or []:
                accounts.append(self.normalize_account(raw))
        return accounts

    @staticmethod
    def normalize_account(raw: dict[str, Any]) -> AccountData:
        account_id = raw.get("AccountId")
        if not account_id:
            raise malformed("account without AccountId")
        sort_code = account_number = iban = masked_pan = holder = ""
        for ident in raw.get("Account") or []:
            scheme = ident.get("SchemeName")
            value = str(ident.get("Identification") or "").replace(" ", "").replace("-", "")
            holder = holder or str(ident.get("Name") or "")
            scheme = str(scheme or "").removeprefix(constants.SCHEME_NAMESPACE)
            if scheme == constants.SCHEME_SORT_CODE and len(value) == 14 and value.isdigit():
                sort_code, account_number = value[:6], value[6:]
            elif scheme == constants.SCHEME_BBAN and len(value) == 18 and value[4:].isdigit() and not sort_code:
                sort_code, account_number = value[4:10], value[10:]
            elif scheme == constants.SCHEME_IBAN:
                iban = value
            elif scheme == constants.SCHEME_PAN:
                masked_pan = _mask_pan(value)
        subtype = str(raw.get("AccountSubType") or "")
        return AccountData(
            provider_account_id=str(account_id),
            display_name=str(raw.get("Nickname") or raw.get("Description") or holder or account_id),
            type=constants.ACCOUNT_TYPES.get(subtype, "other"),
            subtype=subtype,
            currency=as_currency(raw.get("Currency"), "Account.Currency"),
            iban=iban,
            sort_code=sort_code,
            account_number=account_number,
            masked_pan=masked_pan,
            holder_name=holder,
            raw=raw,
        )

    def get_balances(self, credentials: Credentials, account: AccountData) -> list[BalanceData]:
        chosen: dict[str, tuple[int, BalanceData]] = {}
        for page in self.client.pages(f"/accounts/{account.provider_account_id}/balances", credentials):
            for raw in (page.get("Data") or {}).get("Balance") or []:
                balance = self.normalize_balance(raw, account.provider_account_id)
                if balance is None:
                    continue
                rank = constants.BALANCE_PREFERENCE[str(raw.get("Type"))]
                if balance.type not in chosen or rank < chosen[balance.type][0]:
                    chosen[balance.type] = (rank, balance)
        return [balance for _, balance in chosen.values()]

    @staticmethod
    def normalize_balance(raw: dict[str, Any], account_id: str) -> BalanceData | None:
        kind = constants.BALANCE_TYPES.get(str(raw.get("Type")))
        if kind is None:
            return None
        amount = raw.get("Amount") or {}
        credit_lines = raw.get("CreditLine") or []
        limit = None
        for line in credit_lines:
            if line.get("Type") in ("Credit", "Pre-Agreed") and line.get("Amount"):
                limit = as_decimal(line["Amount"].get("Amount"), "CreditLine.Amount")
                break
        return BalanceData(
            provider_account_id=account_id,
            type=kind,
            amount=_signed(
                as_decimal(amount.get("Amount"), "Balance.Amount"), raw.get("CreditDebitIndicator"), "Balance"
            ),
            currency=as_currency(amount.get("Currency"), "Balance.Currency"),
            as_of=as_datetime(raw.get("DateTime"), "Balance.DateTime"),
            credit_line_included=any(bool(line.get("Included")) for line in credit_lines),
            credit_limit=limit,
        )

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
        params: dict[str, str] = {}
        # OBIE query date-times carry no offset; the bank reads them in its own time (UTC here).
        if since:
            params["fromBookingDateTime"] = datetime.combine(since, time.min).isoformat(timespec="seconds")
        if until:
            params["toBookingDateTime"] = datetime.combine(until, time(23, 59, 59)).isoformat(timespec="seconds")
        pages = self.client.pages(f"/accounts/{account.provider_account_id}/transactions", credentials, params)
        for body in pages:
            items = tuple(
                txn
                for raw in (body.get("Data") or {}).get("Transaction") or []
                if (txn := self.normalize_transaction(raw, account)) is not None
            )
            has_more = bool((body.get("Links") or {}).get("Next"))
            yield TransactionPage(transactions=items, has_more=has_more)

    @staticmethod
    def normalize_transaction(raw: dict[str, Any], account: AccountData) -> TransactionData | None:
        status = raw.get("Status")
        if status == "Rejected":
            return None
        if status not in ("Booked", "Pending"):
            raise malformed(f"transaction Status must be Booked or Pending, got {status!r}")
        amount = raw.get("Amount") or {}
        indicator = raw.get("CreditDebitIndicator")
        signed = _signed(as_decimal(amount.get("Amount"), "Transaction.Amount"), indicator, "Transaction")
        booked_at = as_datetime(raw.get("BookingDateTime"), "BookingDateTime")
        value = raw.get("ValueDateTime")
        merchant = str((raw.get("MerchantDetails") or {}).get("MerchantName") or "")
        mcc = str((raw.get("MerchantDetails") or {}).get("MerchantCategoryCode") or "")
        party = raw.get("CreditorAccount") if indicator == "Debit" else raw.get("DebtorAccount")
        supplementary = raw.get("SupplementaryData") or {}
        bank_code = _bank_transaction_code(raw)
        description = str(raw.get("TransactionInformation") or raw.get("TransactionReference") or "")
        transaction_id = raw.get("TransactionId") or stable_id(
            account.provider_account_id,
            raw.get("BookingDateTime"),
            str(signed),
            description,
            raw.get("TransactionReference"),
        )
        return TransactionData(
            provider_transaction_id=str(transaction_id),
            provider_account_id=str(raw.get("AccountId") or account.provider_account_id),
            status="booked" if status == "Booked" else "pending",
            booking_date=booked_at.date(),
            booked_at=booked_at,
            value_date=as_date(as_datetime(value).date().isoformat()) if value else None,
            amount=signed,
            currency=as_currency(amount.get("Currency"), "Transaction.Currency"),
            description=description,
            merchant_name=merchant,
            category=str(supplementary.get("Category") or (f"mcc:{mcc}" if mcc else "")),
            counterparty_name=str((party or {}).get("Name") or ""),
            bank_transaction_code=bank_code,
            pending_transaction_id=str(supplementary.get("PendingTransactionId") or ""),
            raw=raw,
            end_to_end_id=str(supplementary.get("EndToEndIdentification") or ""),
            merchant_category_code=mcc if len(mcc) == 4 and mcc.isdigit() else "",
        )
