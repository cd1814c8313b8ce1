"""Erasure (GDPR Art. 17): end every sharing, then delete the person's data and keep only the evidence the law
requires, pseudonymised (docs/privacy.md has the table, model by model).

``user_erase`` runs in four steps, each committed before the next:

1. Every live consent is revoked through ``consent_revoke`` (a ``ConsentEvent``, tokens ended, the TPP's
   ``consent.revoked`` webhook, the ledger event), by staff, with the erasure as the reason.
2. Every bank connection goes through the disconnect path (``consent.disconnect.connection_disconnect``): the
   bank-side consent is revoked where the dialect allows, the credentials are wiped.
3. The ledger appends what is pending (so no event about the person is sealed later), then forgets the person's
   salt (``ledger_salt_erase``): the leaves stay, unlinkable.
4. One transaction deletes the personal data (``purge.py``) and anonymises the auth user row, which stays as the
   pseudonymous anchor (``erased-<keyed hash>``) of the kept consents, consent events and payment records.

Erasing an erased user again changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from aggregator.ledger.services import ledger_append_pending, ledger_salt_erase
from aggregator.models import Connection
from consent.disconnect import connection_disconnect
from consent.models import Consent
from consent.services import ConsentStateError, consent_revoke

from .models import ErasureRecord
from .pseudonym import pseudonym
from .purge import user_data_purge

__all__ = ["ERASURE_REASON", "ErasureResult", "user_erase", "user_is_erased"]

logger = logging.getLogger(__name__)

ERASURE_REASON = "The user's personal data was erased at their request (GDPR Art. 17)."
ERASED_PREFIX = "erased-"


@dataclass
class ErasureResult:
    subject: str
    already_erased: bool = False
    consents_revoked: int = 0
    banks: dict[str, str] = field(default_factory=dict)  # connection public id → BankRevocation value
    counts: dict[str, int] = field(default_factory=dict)


def user_is_erased(*, user: Any) -> bool:
    return user.get_username() == ERASED_PREFIX + pseudonym(user_id=user.pk)


def user_erase(*, user: Any, requested_by: str, actor_user: Any = None) -> ErasureResult:
    """Erase ``user`` (see the module docstring). ``requested_by``: "staff" or "cli"; ``actor_user``: the staff
    member who asked (recorded on the consent events), if any."""
    subject = pseudonym(user_id=user.pk)
    if user_is_erased(user=user):
        return ErasureResult(subject=subject, already_erased=True)
    result = ErasureResult(subject=subject)

    for consent in Consent.objects.filter(
        user=user, status__in=[Consent.Status.AUTHORISED, Consent.Status.AWAITING_AUTHORISATION]
    ).order_by("created_at"):
        try:
            consent_revoke(consent=consent, actor_type="staff", actor_user=actor_user, reason=ERASURE_REASON)
        except ConsentStateError:
            continue  # ended concurrently
        result.consents_revoked += 1

    live = Connection.objects.filter(user=user).exclude(status=Connection.Status.DISCONNECTED)
    for connection in live.select_related("institution").order_by("id"):
        outcome = connection_disconnect(connection=connection, user=user)
        result.banks[str(connection.public_id)] = outcome.bank

    while ledger_append_pending():
        pass
    ledger_salt_erase(user_id=user.pk)

    with transaction.atomic():
        result.counts = user_data_purge(user=user)
        _anonymise(user=user, subject=subject)
        ErasureRecord.objects.create(
            subject=subject,
            erased_at=timezone.now(),
            requested_by=requested_by,
            counts={**result.counts, "consents_revoked": result.consents_revoked, "banks": result.banks},
        )
    logger.info("user %s erased (subject %s…): %s", user.pk, subject[:12], result.counts)
    return result


def _anonymise(*, user: Any, subject: str) -> None:
    """The auth user row stays (the kept evidence points at it) with nothing that names the person."""
    user.username = ERASED_PREFIX + subject
    for name in ("email", "first_name", "last_name"):
        if hasattr(user, name):
            setattr(user, name, "")
    user.set_unusable_password()
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.last_login = None
    user.save()
    user.groups.clear()
    user.user_permissions.clear()
