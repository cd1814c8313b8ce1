"""The instruction of a payment consent: its validation rules, and the ``PaymentInstruction`` / ``AuthorizationRequest``
/ ``Credentials`` the adapter needs, rebuilt from what we keep (the secrets encrypted).

One home for "is this creditor account well-formed" and "does this request match the consent's instruction".
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from providers.base import AuthorizationRequest, Credentials, PaymentInstruction
from providers.credentials import credentials_decrypt, credentials_encrypt, decrypt_text, encrypt_text

from ..exceptions import InvalidInputError
from .models import PaymentConsent

__all__ = [
    "INSTRUCTION_FIELDS",
    "authorization_load",
    "authorization_store",
    "credentials_load",
    "credentials_store",
    "instruction_for",
    "instruction_mismatches",
    "instruction_validate",
]

# The fields that make up an instruction, as the TPP sends them (creation of the consent, then the payment).
INSTRUCTION_FIELDS = (
    "amount",
    "currency",
    "creditor_name",
    "creditor_iban",
    "creditor_sort_code",
    "creditor_account_number",
    "reference",
    "requested_execution_date",
)

_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_SORT_CODE = re.compile(r"^[0-9]{6}$")
_ACCOUNT_NUMBER = re.compile(r"^[0-9]{8}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# What every scheme's remittance text accepts (OBIE Max35Text / the SEPA Latin character set, in short).
_TEXT = re.compile(r"^[A-Za-z0-9 /\-?:().,'+&]*$")


def _iban_valid(iban: str) -> bool:
    """ISO 13616 check digits (mod 97 = 1)."""
    if not _IBAN.match(iban):
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def instruction_validate(values: dict[str, Any]) -> dict[str, Any]:
    """The instruction normalised (spaces out of account identifiers, upper-case IBAN and currency, amount a
    Decimal with at most 2 places); ``InvalidInputError`` with the field on the first broken rule."""
    out = {name: values.get(name) for name in INSTRUCTION_FIELDS}
    try:
        amount = Decimal(str(out["amount"]))
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInputError('amount must be a decimal string such as "10.50".', field="amount") from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidInputError("amount must be greater than zero.", field="amount")
    if amount.as_tuple().exponent < -2 or amount >= Decimal("1000000000"):  # type: ignore[operator]
        raise InvalidInputError("amount may have at most 2 decimal places and 9 digits.", field="amount")
    out["amount"] = amount.quantize(Decimal("0.01"))
    currency = str(out["currency"] or "").strip().upper()
    if not _CURRENCY.match(currency):
        raise InvalidInputError("currency must be an ISO 4217 code such as GBP or EUR.", field="currency")
    out["currency"] = currency
    name = " ".join(str(out["creditor_name"] or "").split())
    if not name or len(name) > 70 or not _TEXT.match(name):
        raise InvalidInputError(
            "creditor_name is required: at most 70 letters, digits, spaces and / - ? : ( ) . , ' + &.",
            field="creditor_name",
        )
    out["creditor_name"] = name
    iban = re.sub(r"\s", "", str(out["creditor_iban"] or "")).upper()
    sort_code = re.sub(r"[\s-]", "", str(out["creditor_sort_code"] or ""))
    number = re.sub(r"\s", "", str(out["creditor_account_number"] or ""))
    if iban and (sort_code or number):
        raise InvalidInputError(
            "Give either creditor_iban or creditor_sort_code + creditor_account_number, not both.",
            field="creditor_iban",
        )
    if iban:
        if not _iban_valid(iban):
            raise InvalidInputError("creditor_iban is not a valid IBAN (check digits).", field="creditor_iban")
    elif not sort_code and not number:
        raise InvalidInputError(
            "The creditor's account is required: creditor_iban, or creditor_sort_code + creditor_account_number.",
            field="creditor_iban",
        )
    else:
        if not _SORT_CODE.match(sort_code):
            raise InvalidInputError("creditor_sort_code must be 6 digits.", field="creditor_sort_code")
        if not _ACCOUNT_NUMBER.match(number):
            raise InvalidInputError("creditor_account_number must be 8 digits.", field="creditor_account_number")
    out["creditor_iban"], out["creditor_sort_code"], out["creditor_account_number"] = iban, sort_code, number
    reference = " ".join(str(out["reference"] or "").split())
    if len(reference) > 35 or not _TEXT.match(reference):
        raise InvalidInputError(
            "reference: at most 35 letters, digits, spaces and / - ? : ( ) . , ' + &.", field="reference"
        )
    out["reference"] = reference
    when = out["requested_execution_date"] or None
    if isinstance(when, str):
        try:
            when = dt.date.fromisoformat(when)
        except ValueError:
            raise InvalidInputError(
                "requested_execution_date must be a date (YYYY-MM-DD).", field="requested_execution_date"
            ) from None
    if when is not None and (not isinstance(when, dt.date) or isinstance(when, dt.datetime)):
        raise InvalidInputError(
            "requested_execution_date must be a date (YYYY-MM-DD).", field="requested_execution_date"
        )
    if when is not None and when <= timezone.now().date():
        raise InvalidInputError(
            "requested_execution_date must be after today (leave it out for an immediate payment).",
            field="requested_execution_date",
        )
    out["requested_execution_date"] = when
    return out


def instruction_mismatches(consent: PaymentConsent, values: dict[str, Any]) -> list[str]:
    """The fields of ``values`` (already normalised) that differ from the consent's instruction."""
    return [name for name in INSTRUCTION_FIELDS if (getattr(consent, name) or None) != (values[name] or None)]


def instruction_for(consent: PaymentConsent) -> PaymentInstruction:
    """What the bank must execute: the consent's instruction from the debtor account the user picked."""
    account = consent.debtor_account
    return PaymentInstruction(
        instruction_id=consent.instruction_id,
        end_to_end_id=consent.end_to_end_id,
        amount=consent.amount,
        currency=consent.currency,
        creditor_name=consent.creditor_name,
        creditor_iban=consent.creditor_iban,
        creditor_sort_code=consent.creditor_sort_code,
        creditor_account_number=consent.creditor_account_number,
        debtor_iban=account.iban if account else "",
        debtor_sort_code=account.sort_code if account else "",
        debtor_account_number=account.account_number if account else "",
        debtor_provider_account_id=account.provider_account_id if account else "",
        reference=consent.reference,
        requested_execution_date=consent.requested_execution_date,
    )


def authorization_store(consent: PaymentConsent, auth: AuthorizationRequest) -> None:
    payload = {"code_verifier": auth.code_verifier, "consent_id": auth.consent_id, "extra": dict(auth.extra)}
    consent.encrypted_authorization = encrypt_text(json.dumps(payload))
    consent.bank_state = auth.state[:128]
    consent.bank_consent_id = auth.consent_id[:200]


def authorization_load(consent: PaymentConsent) -> AuthorizationRequest:
    payload = json.loads(decrypt_text(consent.encrypted_authorization)) if consent.encrypted_authorization else {}
    return AuthorizationRequest(
        url="",
        state=consent.bank_state,
        code_verifier=payload.get("code_verifier", ""),
        consent_id=payload.get("consent_id", "") or consent.bank_consent_id,
        extra=payload.get("extra") or {},
    )


def credentials_store(consent: PaymentConsent, credentials: Credentials) -> None:
    consent.encrypted_credentials = credentials_encrypt(credentials)


def credentials_load(consent: PaymentConsent) -> Credentials:
    return credentials_decrypt(consent.encrypted_credentials) if consent.encrypted_credentials else Credentials("")
