"""Payment services of the sandbox banks: idempotency keys, the payee check, the debtor's funds, and the
decisions that fix a payment's life (accept → settle, or reject with an ISO 20022 reason).

Both banks' views call these; the OAuth pages call ``payment_authorisation_decided`` when the PSU approves or
refuses. Times are sandbox times, in whole seconds (the generated history's resolution).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from decimal import Decimal
from functools import cache

import orjson
from django.db import transaction

from ..bankdata import account_balances, all_users, get_user, sandbox_now, user_accounts
from ..data.records import SandboxAccount
from ..models import SandboxClient, SandboxConsent
from .lifecycle import INSTANT_SETTLEMENT, SCHEDULED_PRODUCTS, SLOW_PENDING, STANDARD_SETTLEMENT
from .models import SandboxIdempotencyKey, SandboxPayment

__all__ = [
    "IDEMPOTENCY_SECONDS",
    "IdempotencyConflict",
    "body_hash",
    "debtor_account",
    "funds_available",
    "idempotency_lookup",
    "idempotency_mark_answered",
    "idempotency_record",
    "payee_check_fails",
    "payment_authorisation_decided",
    "payment_create",
    "payment_submit",
    "sandbox_moment",
    "times_out_after_accepting",
]

IDEMPOTENCY_SECONDS = 24 * 3600  # OBIE: "The Idempotency Key will be valid for 24 hours."
INSUFFICIENT_FUNDS = ("AM04", "Insufficient funds in the debtor account.")
PAYEE_MISMATCH = ("BE01", "Payee check: the creditor name does not match the account holder.")
PSU_REFUSED = ("DS02", "The account holder refused the payment at the bank.")
CURRENCY_MISMATCH = ("AM11", "The debtor account is held in another currency.")


class IdempotencyConflict(Exception):
    """The key was used before with another request body."""


def sandbox_moment() -> datetime:
    """The sandbox clock in whole seconds."""
    return sandbox_now().replace(microsecond=0)


def body_hash(body: object) -> str:
    """A hash of the request body's JSON value (key order and whitespace do not matter)."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def idempotency_lookup(
    *, bank: str, client_key: str, endpoint: str, key: str, digest: str
) -> SandboxIdempotencyKey | None:
    """The earlier use of ``key`` (within 24 h of sandbox time) when the body is the same; ``None`` when the key
    is new or expired; ``IdempotencyConflict`` when it came with another body."""
    found = SandboxIdempotencyKey.objects.filter(bank=bank, client_key=client_key, endpoint=endpoint, key=key).first()
    if found is None:
        return None
    if (sandbox_now() - found.created_at).total_seconds() > IDEMPOTENCY_SECONDS:
        found.delete()
        return None
    if found.body_hash != digest:
        raise IdempotencyConflict(key)
    return found


def idempotency_record(
    *, bank: str, client_key: str, endpoint: str, key: str, digest: str, resource_id: str
) -> SandboxIdempotencyKey:
    """Remember ``key`` for the resource just created (inside the creating transaction: a race on the same key
    fails here with ``IntegrityError`` and rolls the second resource back)."""
    return SandboxIdempotencyKey.objects.create(
        bank=bank,
        client_key=client_key,
        endpoint=endpoint,
        key=key,
        body_hash=digest,
        resource_id=resource_id,
        created_at=sandbox_now(),
    )


def idempotency_mark_answered(record: SandboxIdempotencyKey) -> None:
    SandboxIdempotencyKey.objects.filter(pk=record.pk).update(answered=True)


def times_out_after_accepting(record: SandboxIdempotencyKey, username: str) -> bool:
    """The ``timeout_after_accept`` user: the first answer for a key never goes out (the bank committed the
    payment, the TPP gets a 504); every retry with the key gets the payment."""
    user = get_user(username) if username else None
    if user is None or user.payments != "timeout_after_accept" or record.answered:
        return False
    idempotency_mark_answered(record)
    return True


# --- accounts, payee and funds -------------------------------------------------------------------------------


def _normalise_name(name: str) -> str:
    return " ".join(name.casefold().split())


@cache
def _accounts_by_identifier(bank: str) -> dict[str, tuple[str, SandboxAccount]]:
    found: dict[str, tuple[str, SandboxAccount]] = {}
    for user in all_users():
        for account in user_accounts(bank, user.username):
            if account.type == "credit_card":
                continue
            if account.iban:
                found[account.iban] = (user.username, account)
            if account.sort_code and account.account_number:
                found[account.sort_code + account.account_number] = (user.username, account)
    return found


def _identifier(value: str) -> str:
    return value.replace(" ", "").replace("-", "").upper()


def debtor_account(bank: str, identification: str) -> tuple[str, SandboxAccount] | None:
    """(username, account) of the bank's account with this IBAN or sort code + account number, else None."""
    return _accounts_by_identifier(bank).get(_identifier(identification))


def payee_check_fails(bank: str, identification: str, name: str) -> bool:
    """Confirmation of Payee: a creditor account held at this bank must carry its holder's name (compared
    without case and extra spaces); accounts elsewhere cannot be checked and pass."""
    known = _accounts_by_identifier(bank).get(_identifier(identification))
    return known is not None and _normalise_name(known[1].holder_name) != _normalise_name(name)


def funds_available(bank: str, username: str, account_id: str, amount: Decimal) -> bool:
    """Whether the account's available balance (payments already made included) covers ``amount``."""
    balances = account_balances(bank, username, account_id)
    available = next((b.amount for b in balances if b.type == "available"), Decimal("0"))
    return available >= amount


# --- payments --------------------------------------------------------------------------------------------------


@transaction.atomic
def payment_create(
    *,
    bank: str,
    product: str,
    client: SandboxClient | None,
    consent: SandboxConsent | None,
    fields: dict,
) -> SandboxPayment:
    """A new payment row (albion: with its payment consent; rhein: the payment, RCVD)."""
    prefix = {"albion": "dp-", "rhein": ""}[bank]
    now = sandbox_moment()
    return SandboxPayment.objects.create(
        id=f"{prefix}{uuid.uuid4()}",
        bank=bank,
        product=product,
        client=client,
        consent=consent,
        created_at=now,
        **fields,
    )


def _reject(payment: SandboxPayment, now: datetime, reason: tuple[str, str]) -> None:
    payment.rejected_at = now
    payment.reason_code, payment.reason = reason


@transaction.atomic
def payment_submit(*, payment: SandboxPayment, payee_check: bool = False) -> SandboxPayment:
    """The bank takes the authorised instruction for execution now: it is rejected (currency, payee check when
    ``payee_check``, funds: ISO 20022 reason) or accepted, and its settlement (and, for ``slow`` users, its
    pending period) is fixed on the sandbox clock."""
    now = sandbox_moment()
    payment.submitted_at = now
    account = next(
        (a for a in user_accounts(payment.bank, payment.username) if a.id == payment.debtor_account_id), None
    )
    user = get_user(payment.username)
    if account is None or account.currency != payment.currency:
        _reject(payment, now, CURRENCY_MISMATCH)
    elif payee_check and payee_check_fails(payment.bank, payment.creditor_identification, payment.creditor_name):
        _reject(payment, now, PAYEE_MISMATCH)
    elif not funds_available(payment.bank, payment.username, payment.debtor_account_id, payment.amount):
        _reject(payment, now, INSUFFICIENT_FUNDS)
    elif payment.product in SCHEDULED_PRODUCTS and payment.requested_execution_at:
        payment.settles_at = max(payment.requested_execution_at.replace(microsecond=0), now)
    else:
        if user is not None and user.payments == "slow":
            payment.pending_until = now + SLOW_PENDING
        settlement = INSTANT_SETTLEMENT if payment.product.startswith("instant-") else STANDARD_SETTLEMENT
        payment.settles_at = (payment.pending_until or now) + settlement
    payment.save()
    return payment


@transaction.atomic
def payment_authorisation_decided(
    *, consent: SandboxConsent, username: str, account_id: str, approved: bool
) -> SandboxPayment | None:
    """The PSU approved (with the debtor account) or refused the payment at the bank's pages. albion: the
    payment consent becomes Authorised (the TPP then posts the payment) or Rejected; rhein: the SCA releases
    the payment at once (checks, then ACTC… or RJCT), or the refusal rejects it."""
    payment = SandboxPayment.objects.select_for_update().filter(consent=consent).first()
    if payment is None:
        return None
    payment.username = username
    if approved:
        payment.debtor_account_id = account_id
    payment.save(update_fields=["username", "debtor_account_id"])
    if payment.bank == "rhein":
        if approved:
            payment_submit(payment=payment, payee_check=True)
        else:
            now = sandbox_moment()
            _reject(payment, now, PSU_REFUSED)
            payment.save()
    return payment
