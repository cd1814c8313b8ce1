"""Bank-side consent lifecycle (services): create, authorise, reject, revoke, expire.

Statuses are kept in each bank's own vocabulary (see ``SandboxConsent``). Expiry is evaluated lazily against
the sandbox clock: albion consents end at ``ExpirationDateTime``; rhein consents become ``expired`` after
``validUntil``.
"""

from __future__ import annotations

import uuid
from datetime import date

from django.db import transaction

from ..clock import sandbox_now
from ..models import SandboxClient, SandboxConsent, SandboxToken

__all__ = [
    "ACTIVE_STATUS",
    "AWAITING_STATUS",
    "consent_authorise",
    "consent_consume",
    "consent_create",
    "consent_is_active",
    "consent_refresh_expiry",
    "consent_reject",
    "consent_revoke",
]

AWAITING_STATUS = {"albion": "AwaitingAuthorisation", "rhein": "received", "liberty": "received"}
ACTIVE_STATUS = {"albion": "Authorised", "rhein": "valid", "liberty": "valid"}
REJECTED_STATUS = {"albion": "Rejected", "rhein": "rejected", "liberty": "rejected"}
CONSUMED_STATUS = "Consumed"  # albion payment consents (OBIE); rhein payments have no consent of their own
REVOKED_STATUS = {"albion": "Revoked", "rhein": "terminatedByTpp", "liberty": "revoked"}


def _new_id(bank: str) -> str:
    prefix = {"albion": "aac-", "rhein": "", "liberty": "lib-"}[bank]
    return f"{prefix}{uuid.uuid4()}"


@transaction.atomic
def consent_create(*, bank: str, client: SandboxClient | None, **fields: object) -> SandboxConsent:
    now = sandbox_now()
    return SandboxConsent.objects.create(
        id=_new_id(bank),
        bank=bank,
        client=client,
        status=AWAITING_STATUS[bank],
        created_at=now,
        status_updated_at=now,
        **fields,
    )


def consent_refresh_expiry(*, consent: SandboxConsent) -> SandboxConsent:
    """Apply time-based expiry (rhein: ``valid`` → ``expired`` once the sandbox date passes validUntil)."""
    now = sandbox_now()
    expired = consent.bank == "rhein" and consent.valid_until is not None and now.date() > consent.valid_until
    if expired and consent.status in {"received", "valid"}:
        consent.status = "expired"
        consent.status_updated_at = now
        SandboxConsent.objects.filter(pk=consent.pk).update(status="expired", status_updated_at=now)
    return consent


def consent_is_active(*, consent: SandboxConsent) -> bool:
    consent_refresh_expiry(consent=consent)
    if consent.status != ACTIVE_STATUS[consent.bank]:
        return False
    return not (consent.bank == "albion" and consent.expires_at and sandbox_now() >= consent.expires_at)


def _set_status(consent: SandboxConsent, status: str) -> SandboxConsent:
    consent.status = status
    consent.status_updated_at = sandbox_now()
    consent.save(update_fields=["status", "status_updated_at", "username", "account_ids", "client"])
    return consent


@transaction.atomic
def consent_authorise(
    *, consent: SandboxConsent, username: str, account_ids: list[str], client: SandboxClient
) -> SandboxConsent:
    consent.username = username
    consent.account_ids = list(account_ids)
    consent.client = client
    return _set_status(consent, ACTIVE_STATUS[consent.bank])


@transaction.atomic
def consent_reject(*, consent: SandboxConsent, username: str = "") -> SandboxConsent:
    if username:
        consent.username = username
    return _set_status(consent, REJECTED_STATUS[consent.bank])


@transaction.atomic
def consent_revoke(*, consent: SandboxConsent) -> SandboxConsent:
    """Revoked by the TPP (albion ``Revoked``, rhein ``terminatedByTpp``).

    Refresh tokens die at once; access tokens stay *known* so the data endpoints can answer with the consent
    error of the dialect (albion 403, rhein 401 CONSENT_INVALID) instead of a bare 401."""
    SandboxToken.objects.filter(consent=consent).update(refresh_token_revoked=True)
    return _set_status(consent, REVOKED_STATUS[consent.bank])


def consent_touch(*, consent: SandboxConsent, today: date) -> None:
    if consent.last_action_on != today:
        SandboxConsent.objects.filter(pk=consent.pk).update(last_action_on=today)
        consent.last_action_on = today


@transaction.atomic
def consent_consume(*, consent: SandboxConsent) -> SandboxConsent:
    """A single-use payment consent was used (albion ``Consumed``): its tokens pay no more."""
    SandboxToken.objects.filter(consent=consent).update(refresh_token_revoked=True)
    return _set_status(consent, CONSUMED_STATUS)
