"""The user reconfirms consents (UK, FCA SCA-RTS Art. 10A).

Reconfirming is not strong authentication: the signed-in user confirms, on one page, that each chosen consent may
go on (what is shared, with whom, until when). Each consent's ``reconfirm_by`` moves to now + 90 days on the
compliance clock, a ``reconfirmed`` ``ConsentEvent`` is appended and the existing domain event
``consent.reconfirmed`` is published (the ledger logs it). Access resumes at once; the bank-side consent is
untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from aggregator.compliance.clock import compliance_now

from .clocks import reconfirm_days_for
from .models import Consent, ConsentEvent
from .selectors import consent_accounts
from .services import ConsentStateError, _publish_consent_event

__all__ = ["consent_reconfirm", "consents_reconfirm"]


@transaction.atomic
def consent_reconfirm(*, consent: Consent, user: Any) -> Consent:
    """The user reconfirms one authorised consent of theirs that has a reconfirmation clock."""
    locked = Consent.objects.select_for_update().get(pk=consent.pk)
    if locked.user_id != getattr(user, "pk", None):
        raise ConsentStateError("This consent was authorised by another user.", code="foreign_consent")
    if locked.status != Consent.Status.AUTHORISED or locked.expires_at <= timezone.now():
        raise ConsentStateError("Only a consent in force can be reconfirmed.", code="invalid_transition")
    days = reconfirm_days_for(accounts=consent_accounts(consent=locked))
    if days is None:
        raise ConsentStateError("This consent needs no reconfirmation.", code="no_reconfirmation")
    now = compliance_now()
    previous = locked.reconfirm_by
    consent.reconfirm_by = now + timedelta(days=days)
    consent.reconfirmed_at = now
    consent.save(update_fields=["reconfirm_by", "reconfirmed_at", "updated_at"])
    event = ConsentEvent.objects.create(
        consent=consent,
        kind=ConsentEvent.Kind.RECONFIRMED,
        actor_type=ConsentEvent.Actor.USER,
        actor_user=user,
        from_status=locked.status,
        to_status=locked.status,
        reason=f"Reconfirmed by the user; next reconfirmation by {consent.reconfirm_by:%Y-%m-%d %H:%M} UTC.",
        event_id=uuid.uuid4(),
    )
    _publish_consent_event(
        event=event,
        name="consent.reconfirmed",
        occurred_at=timezone.now(),
        reconfirm_by=consent.reconfirm_by.isoformat(),
        previous_reconfirm_by=previous.isoformat() if previous else None,
    )
    return consent


@transaction.atomic
def consents_reconfirm(*, user: Any, consents: Iterable[Consent]) -> list[Consent]:
    """Reconfirm several consents of the user at once (one click on the reconfirmation page): all or none."""
    return [consent_reconfirm(consent=consent, user=user) for consent in consents]
