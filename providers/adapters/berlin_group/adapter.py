"""Berlin Group NextGenPSD2 v1.3.11 (AIS) adapter.

Flow: ``POST /v1/consents`` (``access`` to all accounts, ``recurringIndicator``, ``validUntil``,
``frequencyPerDay``) → the user authorises the consentId at the bank (OAuth SCA approach: ``consent_id`` on the
authorize URL, PKCE when supported) → code → access + rotating refresh token. Every AIS call sends
``Consent-ID``, ``Authorization`` and ``X-Request-ID``; ``PSU-IP-Address`` only when the user is present (the
connect flow), since unattended calls count against ``frequencyPerDay`` (``unattended_calls_per_day``) and the
bank answers the excess with 429 ``ACCESS_EXCEEDED`` → ``RateLimitedError`` until the next UTC day.

Normalization rules (``transactions`` → ``TransactionData``):

* **Amount sign**: ``transactionAmount.amount`` is already signed from the account holder's point of view
  (negative = money out); kept as is. Balances: ``balanceAmount.amount`` signed as given.
* **Dates**: ``bookingDate`` → ``booking_date`` (pending entries without one use ``valueDate``);
  ``valueDate`` → ``value_date``; the dialect has no booking time, so ``booked_at`` is None.
* **Status**: entries of the ``booked`` list → booked, of the ``pending`` list → pending (``information`` ignored).
* **Ids**: ``transactionId``, else ``entryReference``, else a stable hash. A booked entry that replaced a
  pending one names it in ``additionalInformationStructured.pendingTransactionId`` (sandbox extension).
* **Texts**: ``remittanceInformationUnstructured`` (else the joined ``…Array``, else
  ``remittanceInformationStructured``) → description; counterparty = ``creditorName`` for money out,
  ``debtorName`` for money in; merchant = ``ultimateCreditor`` for money out (card acquirers put the merchant
  there), else the creditor of a card purchase (``bankTransactionCode`` ``PMNT-CCRD-POSD``); category =
  ``additionalInformationStructured.category`` where given, else ``additionalInformation`` (where this bank
  puts its category text); bank_transaction_code = ``bankTransactionCode``.
* **Window**: ``dateFrom`` is mandatory (no delta access); a first sync without ``since`` asks from
  ``config["history_from"]`` (default 2000-01-01).
* **Accounts**: ``resourceId`` → id; ``cashAccountType`` (ISO 20022: CACC/SVGS/CARD/LOAN) → type; ``name`` (else
  ``displayName``, ``product``) → display name; ``iban``; ``bban`` (the domestic number, for accounts without
  an IBAN or beside it) → account number; ``ownerName``. Masked PAN: ``maskedPan`` (the
  ``cardAccountDetails`` shape), else a clear ``pan`` (an account reference) masked to its last 4 digits; the
  ``accountDetails`` of ``GET /v1/accounts`` have neither, so for a ``CARD`` account listed there the masked
  PAN is read from ``details`` ("characteristics of the relevant card",
  e.g. Rhein's ``Card ************0623``): the first token that looks like a masked PAN (up to 8 clear leading
  digits, at least 4 mask characters ``*``/``X``, 4 clear trailing digits), kept as written.
* **Balances**: ``closingBooked`` → booked, ``interimAvailable`` → available, ``expected`` → expected;
  ``creditLimitIncluded`` → ``credit_line_included``; as_of = ``lastChangeDateTime``, else ``referenceDate``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
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
from .client import BerlinGroupClient
from .payments import BerlinGroupPayments

__all__ = ["BerlinGroupAdapter"]

_MASKED_PAN = re.compile(r"(?<![\w*])[0-9]{0,8}[*Xx]{4,}[0-9]{4}(?![\w*])")


def _mask_clear_pan(pan: str) -> str:
    digits = pan.replace(" ", "")
    return "*" * max(len(digits) - 4, 0) + digits[-4:] if digits else ""


def _masked_pan_in(details: Any) -> str:
    match = _MASKED_PAN.search(str(details or ""))
    return match.group(0) if match else ""


class BerlinGroupAdapter(OAuthBankAdapter[BerlinGroupClient]):
    name = "berlin_group"
    supports_revoke = True
    sync_mode = "window"
    unattended_calls_per_day = constants.FREQUENCY_PER_DAY

    client_class = BerlinGroupClient

    supports_payments = True

    # --- payments (see .payments) -------------------------------------------------------------------
    @property
    def payments(self) -> BerlinGroupPayments:
        return BerlinGroupPayments(self.client)

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
        # The SCA released the payment at the bank: submitting is reading where it stands (safe to repeat).
        return self.payments.status(
            auth.consent_id, product=str(auth.extra.get("product") or ""), credentials=credentials
        )

    def get_payment(self, credentials: Credentials, bank_payment_id: str) -> BankPayment:
        return self.payments.status(bank_payment_id, credentials=credentials)

    @property
    def client(self) -> BerlinGroupClient:
        return BerlinGroupClient.from_config(self.config, psu_ip_address=self.psu_ip_address)

    # --- authorization -----------------------------------------------------------------------------
    def start_authorization(self, *, redirect_uri: str, user_hint: str = "") -> AuthorizationRequest:
        client = self.client
        max_days = int(provider_settings.CONSENT_MAX_DAYS)
        valid_until = timezone.now().date() + timedelta(days=max_days)
        body = client.consent_create(
            body={
                # A bank-offered consent: the user picks the accounts at the bank; owner names included.
                "access": {
                    "accounts": [],
                    "balances": [],
                    "transactions": [],
                    "availableAccounts": "allAccountsWithOwnerName",
                },
                "recurringIndicator": True,
                "validUntil": valid_until.isoformat(),
                "frequencyPerDay": int(self.config.get("frequency_per_day", constants.FREQUENCY_PER_DAY)),
                "combinedServiceIndicator": False,
            },
            redirect_uri=redirect_uri,
        )
        consent_id = str(body.get("consentId") or "")
        if not consent_id:
            raise malformed("consent response without consentId")
        consent_expires = datetime.combine(valid_until, time(23, 59, 59), tzinfo=UTC)
        return authorization_request_build(
            server=client.server(),
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=self.config.get("scope", "accounts"),
            consent_id=consent_id,
            user_hint=user_hint,
            extra={"consent_expires_at": consent_expires.isoformat()},
        )

    def revoke(self, credentials: Credentials) -> None:
        if credentials.consent_id:
            self.client.consent_delete(consent_id=credentials.consent_id, credentials=credentials)

    # --- accounts and balances ---------------------------------------------------------------------
    def list_accounts(self, credentials: Credentials) -> list[AccountData]:
        body = self.client.get("/accounts", credentials)
        return [self.normalize_account(raw) for raw in body.get("accounts") or []]

    @staticmethod
    def normalize_account(raw: dict[str, Any]) -> AccountData:
        resource_id = raw.get("resourceId")
        if not resource_id:
            raise malformed("account without resourceId")
        cash_type = str(raw.get("cashAccountType") or "")
        return AccountData(
            provider_account_id=str(resource_id),
            display_name=str(raw.get("name") or raw.get("displayName") or raw.get("product") or resource_id),
            type=constants.ACCOUNT_TYPES.get(cash_type, "other"),
            subtype=cash_type,
            currency=as_currency(raw.get("currency"), "account currency"),
            iban=str(raw.get("iban") or "").replace(" ", ""),
            account_number=str(raw.get("bban") or "").replace(" ", ""),
            masked_pan=str(raw.get("maskedPan") or "")
            or _mask_clear_pan(str(raw.get("pan") or ""))
            or (_masked_pan_in(raw.get("details")) if cash_type == "CARD" else ""),
            holder_name=str(raw.get("ownerName") or ""),
            raw=raw,
        )

    def get_balances(self, credentials: Credentials, account: AccountData) -> list[BalanceData]:
        body = self.client.get(f"/accounts/{account.provider_account_id}/balances", credentials)
        balances: dict[str, BalanceData] = {}
        for raw in body.get("balances") or []:
            balance = self.normalize_balance(raw, account.provider_account_id)
            if balance is not None:
                balances.setdefault(balance.type, balance)
        return list(balances.values())

    @staticmethod
    def normalize_balance(raw: dict[str, Any], account_id: str) -> BalanceData | None:
        kind = constants.BALANCE_TYPES.get(str(raw.get("balanceType")))
        if kind is None:
            return None
        amount = raw.get("balanceAmount") or {}
        if raw.get("lastChangeDateTime"):
            as_of = as_datetime(raw["lastChangeDateTime"], "lastChangeDateTime")
        elif raw.get("referenceDate"):
            as_of = datetime.combine(as_date(raw["referenceDate"], "referenceDate"), time.min, tzinfo=UTC)
        else:
            raise malformed("balance without lastChangeDateTime or referenceDate")
        return BalanceData(
            provider_account_id=account_id,
            type=kind,
            amount=as_decimal(amount.get("amount"), "balanceAmount.amount"),
            currency=as_currency(amount.get("currency"), "balanceAmount.currency"),
            as_of=as_of,
            credit_line_included=bool(raw.get("creditLimitIncluded", False)),
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
        # dateFrom is mandatory in this dialect (no delta access): without ``since``, ask for all history.
        since = since or date.fromisoformat(self.config.get("history_from", constants.HISTORY_FROM))
        params = {"bookingStatus": "both", "dateFrom": since.isoformat()}
        if until:
            params["dateTo"] = until.isoformat()
        for body in self.client.transaction_pages(account.provider_account_id, credentials, params):
            report = body.get("transactions")
            if not isinstance(report, dict):
                raise malformed("transactions response without an account report")
            items = [self.normalize_transaction(raw, account, "booked") for raw in report.get("booked") or []]
            items += [self.normalize_transaction(raw, account, "pending") for raw in report.get("pending") or []]
            links = report.get("_links") or body.get("_links") or {}
            yield TransactionPage(transactions=tuple(items), has_more=bool(links.get("next")))

    @staticmethod
    def normalize_transaction(raw: dict[str, Any], account: AccountData, status: str) -> TransactionData:
        amount = raw.get("transactionAmount") or {}
        signed = as_decimal(amount.get("amount"), "transactionAmount.amount")
        booking = raw.get("bookingDate") or raw.get("valueDate")
        booking_date = as_date(booking, "bookingDate")
        value_date = as_date(raw["valueDate"], "valueDate") if raw.get("valueDate") else None
        structured = raw.get("additionalInformationStructured") or {}
        if not isinstance(structured, dict):
            structured = {}
        description = str(
            raw.get("remittanceInformationUnstructured")
            or " ".join(str(x) for x in raw.get("remittanceInformationUnstructuredArray") or [])
            or raw.get("remittanceInformationStructured")
            or ""
        )
        outgoing = signed < 0
        counterparty = str((raw.get("creditorName") if outgoing else raw.get("debtorName")) or "")
        bank_code = str(raw.get("bankTransactionCode") or "")
        merchant = str(raw.get("ultimateCreditor") or "") if outgoing else ""
        if not merchant and outgoing and bank_code.startswith("PMNT-CCRD-POSD"):
            merchant = counterparty
        transaction_id = (
            raw.get("transactionId")
            or raw.get("entryReference")
            or stable_id(account.provider_account_id, booking, str(signed), description, status)
        )
        return TransactionData(
            provider_transaction_id=str(transaction_id),
            provider_account_id=account.provider_account_id,
            status=status,
            booking_date=booking_date,
            booked_at=None,
            value_date=value_date,
            amount=signed,
            currency=as_currency(amount.get("currency"), "transactionAmount.currency"),
            description=description,
            merchant_name=merchant,
            category=str(structured.get("category") or raw.get("additionalInformation") or ""),
            counterparty_name=counterparty,
            bank_transaction_code=bank_code,
            pending_transaction_id=str(structured.get("pendingTransactionId") or ""),
            raw=raw,
            end_to_end_id=str(raw.get("endToEndId") or ""),
        )
