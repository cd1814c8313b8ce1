"""Services of a payment consent: created by a TPP, authorised by its user (our screen, then the bank's SCA),
rejected, revoked or expired; consumed by its one payment (``aggregator.payments.services``).

Lifecycle: ``awaiting_authorisation → authorised → consumed``; ``awaiting_authorisation → rejected | expired |
revoked``; ``authorised → revoked | expired``. Each change appends a ``PaymentEvent``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from providers.base import NotSupportedError, ProviderError
from providers.registry import adapter_class, adapter_for

from ..conf import aggregator_settings
from ..exceptions import ConflictError, InvalidInputError, NotFoundError, ServiceUnavailableError
from ..models import Account, Connection
from .events import trail_record
from .instruction import (
    authorization_load,
    authorization_store,
    credentials_load,
    credentials_store,
    instruction_for,
    instruction_validate,
)
from .models import PaymentConsent

__all__ = [
    "PaymentAuthorisationError",
    "account_supports_payments",
    "payment_consent_authorisation_complete",
    "payment_consent_authorisation_start",
    "payment_consent_confirm_funds",
    "payment_consent_create",
    "payment_consent_end",
    "payment_consent_for_bank_state",
    "payment_consent_get_for_client",
    "payment_consent_is_authorisable",
    "payment_consents_expire_due",
]

logger = logging.getLogger(__name__)
Status = PaymentConsent.Status


class PaymentAuthorisationError(Exception):
    """The user's authorisation cannot go on; ``code`` machine-readable, the message safe to show the user."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status


def account_supports_payments(account: Account) -> bool:
    """The account's bank offers payment initiation (its adapter's ``supports_payments``)."""
    try:
        return bool(adapter_class(account.connection.institution.provider).supports_payments)
    except Exception:  # an unknown adapter name: no payments there
        return False


def authorise_window() -> dt.timedelta:
    return dt.timedelta(minutes=int(aggregator_settings.PAYMENT_CONSENT_AUTHORISE_MINUTES))


def payment_consent_is_authorisable(*, consent: PaymentConsent, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return (
        consent.status == Status.AWAITING_AUTHORISATION
        and consent.expires_at > now
        and consent.created_at > now - authorise_window()
    )


def _set_status(consent: PaymentConsent, to_status: str, *, detail: str = "", fields: tuple[str, ...] = ()) -> None:
    from_status = consent.status
    consent.status = to_status
    consent.status_changed_at = timezone.now()
    consent.save(update_fields=["status", "status_changed_at", "updated_at", *fields])
    trail_record(
        consent=consent, kind="consent.status_changed", from_status=from_status, to_status=to_status, detail=detail
    )


@transaction.atomic
def payment_consent_create(
    *, client_id: str, instruction: dict[str, Any], debtor_account: Account | None = None
) -> PaymentConsent:
    """A TPP asks for one payment; ``instruction`` as in ``instruction.INSTRUCTION_FIELDS``. ``debtor_account``
    fixes the account to pay from (one the TPP knows from a data consent; it must suit the instruction)."""
    values = instruction_validate(instruction)
    if debtor_account is not None:
        if debtor_account.currency != values["currency"]:
            raise InvalidInputError("The debtor account holds another currency.", field="debtor_account_id")
        if not account_supports_payments(debtor_account):
            raise InvalidInputError(
                "The debtor account's bank does not offer payment initiation.",
                code="payments_not_supported",
                field="debtor_account_id",
            )
    now = timezone.now()
    consent = PaymentConsent.objects.create(
        client_id=client_id,
        **values,
        instruction_id=uuid.uuid4().hex,
        end_to_end_id=uuid.uuid4().hex,
        debtor_account=debtor_account,
        debtor_fixed=debtor_account is not None,
        expires_at=now + aggregator_settings.PAYMENT_CONSENT_VALIDITY,
        status_changed_at=now,
    )
    trail_record(consent=consent, kind="consent.created", to_status=consent.status)
    return consent


def payment_consent_authorisation_start(
    *, consent: PaymentConsent, user: Any, account: Account, redirect_uri: str, psu_ip_address: str = ""
) -> str:
    """The user approved on our screen, paying from ``account``: create the payment at the bank (its consent)
    and return the URL of the bank's SCA. The bank-side state is kept server-side, encrypted."""
    with transaction.atomic():
        locked = PaymentConsent.objects.select_for_update().get(pk=consent.pk)
        if not payment_consent_is_authorisable(consent=locked):
            raise PaymentAuthorisationError(
                "not_authorisable", "This payment request can no longer be approved.", status=409
            )
        if locked.user_id is not None and locked.user_id != user.pk:
            raise PaymentAuthorisationError("foreign_consent", "Another user is approving this payment.", status=403)
        own = (
            Account.objects.filter(
                pk=account.pk,
                connection__user=user,
                connection__status=Connection.Status.ACTIVE,
                removed_at__isnull=True,
            )
            .select_related("connection__institution")
            .first()
        )
        if own is None or (locked.debtor_fixed and locked.debtor_account_id != own.pk):
            raise PaymentAuthorisationError("account_not_allowed", "You cannot pay from this account.")
        if own.currency != locked.currency or not account_supports_payments(own):
            raise PaymentAuthorisationError("account_not_allowed", "This account cannot make this payment.")
        locked.user, locked.debtor_account = user, own
        locked.bank_redirect_uri = redirect_uri
        locked.save(update_fields=["user", "debtor_account", "bank_redirect_uri", "updated_at"])
    adapter = adapter_for(own.connection.institution, psu_ip_address=psu_ip_address)
    try:
        auth = adapter.start_payment_authorization(
            instruction_for(locked), idempotency_key=f"pc-{locked.public_id}", redirect_uri=redirect_uri
        )
    except NotSupportedError as exc:
        raise PaymentAuthorisationError(
            "payments_not_supported", f"{own.connection.institution.name} offers no payments here."
        ) from exc
    except ProviderError as exc:
        logger.warning("payment authorisation at %s failed: %s (%s)", own.connection.institution.slug, exc, exc.code)
        reason = getattr(exc, "reason", "") or str(exc)
        raise PaymentAuthorisationError(
            "bank_refused", f"The bank did not accept this payment: {reason}", status=502
        ) from exc
    with transaction.atomic():
        locked = PaymentConsent.objects.select_for_update().get(pk=consent.pk)
        authorization_store(locked, auth)
        locked.save(update_fields=["encrypted_authorization", "bank_state", "bank_consent_id", "updated_at"])
        trail_record(
            consent=locked,
            kind="bank.authorisation_started",
            to_status=locked.status,
            detail=f"bank consent {auth.consent_id}",
        )
    return auth.url


def payment_consent_for_bank_state(*, state: str) -> PaymentConsent | None:
    return PaymentConsent.objects.filter(bank_state=state[:128]).exclude(bank_state="").first() if state else None


def payment_consent_authorisation_complete(
    *, state: str, code: str = "", error: str = "", user: Any, psu_ip_address: str = ""
) -> PaymentConsent:
    """The bank redirected the user back: exchange the code for payment credentials and mark the consent
    authorised (or rejected when the user refused at the bank)."""
    consent = payment_consent_for_bank_state(state=state)
    if consent is None or consent.user_id != getattr(user, "pk", None):
        raise PaymentAuthorisationError("invalid_state", "This bank authorisation is unknown. Please start again.")
    if not payment_consent_is_authorisable(consent=consent):
        raise PaymentAuthorisationError(
            "not_authorisable", "This payment request can no longer be approved.", status=409
        )
    if error:
        payment_consent_end(consent=consent, to_status=Status.REJECTED, detail=f"refused at the bank ({error[:64]})")
        raise PaymentAuthorisationError("bank_denied", "You did not authorise the payment at the bank.")
    adapter = adapter_for(consent.debtor_account.connection.institution, psu_ip_address=psu_ip_address)
    try:
        credentials = adapter.complete_payment_authorization(
            code=code, redirect_uri=consent.bank_redirect_uri, auth=authorization_load(consent)
        )
    except ProviderError as exc:
        logger.warning("payment authorisation completion failed: %s (%s)", exc, exc.code)
        raise PaymentAuthorisationError(
            "bank_error", "The bank did not confirm the authorisation. Please try again.", status=502
        ) from exc
    with transaction.atomic():
        locked = PaymentConsent.objects.select_for_update().get(pk=consent.pk)
        if not payment_consent_is_authorisable(consent=locked):
            raise PaymentAuthorisationError(
                "not_authorisable", "This payment request can no longer be approved.", status=409
            )
        credentials_store(locked, credentials)
        locked.bank_state = ""  # the state is spent
        locked.authorised_at = timezone.now()
        _set_status(
            locked,
            Status.AUTHORISED,
            detail="authorised at the bank",
            fields=("encrypted_credentials", "bank_state", "authorised_at"),
        )
    return locked


@transaction.atomic
def payment_consent_end(*, consent: PaymentConsent, to_status: str, detail: str = "") -> PaymentConsent:
    """Reject, revoke or expire a payment consent that was not used; a consumed one is left as it is."""
    if to_status not in (Status.REJECTED, Status.REVOKED, Status.EXPIRED):
        raise ValueError(f"not an end status: {to_status!r}")
    locked = PaymentConsent.objects.select_for_update().get(pk=consent.pk)
    allowed = [Status.AWAITING_AUTHORISATION] + ([] if to_status == Status.REJECTED else [Status.AUTHORISED])
    if locked.status not in allowed:
        raise ConflictError(f"The payment consent is {locked.status}.", code="payment_consent_not_active")
    locked.reason = detail[:300]
    _set_status(locked, to_status, detail=detail, fields=("reason",))
    consent.status = locked.status
    return locked


def payment_consents_expire_due(*, now: dt.datetime | None = None) -> int:
    """Expire payment consents not authorised within the window, or authorised and not used by ``expires_at``."""
    now = now or timezone.now()
    due = PaymentConsent.objects.filter(
        status__in=[Status.AWAITING_AUTHORISATION, Status.AUTHORISED], expires_at__lte=now
    ) | PaymentConsent.objects.filter(status=Status.AWAITING_AUTHORISATION, created_at__lte=now - authorise_window())
    count = 0
    for consent in due.distinct():
        try:
            payment_consent_end(consent=consent, to_status=Status.EXPIRED, detail="not authorised or used in time")
        except ConflictError:
            continue
        count += 1
    return count


def payment_consent_get_for_client(*, client_id: str, public_id: Any) -> PaymentConsent:
    consent = PaymentConsent.objects.filter(client_id=client_id, public_id=public_id).first()
    if consent is None:
        raise NotFoundError("No such payment consent.", code="payment_consent_not_found")
    return consent


def payment_consent_confirm_funds(*, consent: PaymentConsent) -> bool:
    """Whether the debtor account holds the amount now, asked of the bank (OBIE funds-confirmation) under the
    payment's own authorisation. ``ConflictError`` ``not_supported`` where the bank offers no such check."""
    if consent.status != Status.AUTHORISED:
        raise ConflictError(
            "Funds can be confirmed only for an authorised payment consent that has not been used yet.",
            code="payment_consent_not_authorised",
        )
    institution = consent.debtor_account.connection.institution
    adapter = adapter_for(institution)
    if not adapter.supports_funds_confirmation:
        raise ConflictError(f"{institution.name} offers no funds confirmation.", code="not_supported")
    try:
        return adapter.confirm_funds(credentials_load(consent), auth=authorization_load(consent))
    except NotSupportedError as exc:
        raise ConflictError(f"{institution.name} offers no funds confirmation.", code="not_supported") from exc
    except ProviderError as exc:
        logger.warning("funds confirmation at %s failed: %s (%s)", institution.slug, exc, exc.code)
        raise ServiceUnavailableError(
            "The bank could not confirm funds just now.", retry_after=30, code="bank_unavailable"
        ) from exc
