"""Warnings ahead of the compliance deadlines, and the EU day-180 stop (the periodic task ``compliance clocks``).

Each run, on the compliance clock (``aggregator.compliance.clock``):

* connections whose bank SCA lapsed (EU, day 180) move to ``reauth_required`` (``connections_sca_expire_due``);
* for each UK consent whose ``reconfirm_by`` is 14 days away or less, and each EU connection whose
  ``reauthenticate_by`` is, one warning per stage (``T-14``, then ``T-3``): the domain event
  ``consent.reconfirmation_due`` / ``connection.reauth_due`` (turned into the TPP webhooks of the same names by
  ``aggregator.webhooks``) and an email to the user with the link that fixes it (the reconfirmation page; the
  bank's re-authentication). A ``ClockWarning`` row per subject, deadline and stage makes a second run send
  nothing twice; a new deadline (after a reconfirmation or re-authentication) gets its own warnings.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from aggregator.compliance.clock import compliance_now
from aggregator.compliance.sca import connection_reauthenticate_by, connections_sca_expire_due
from aggregator.domain_events import DomainEvent, publish
from aggregator.models import Connection

from .models import ClockWarning, Consent

__all__ = ["WARNING_STAGES", "clock_warnings_send", "warning_stage"]

logger = logging.getLogger(__name__)

# (days before the deadline, stage label), widest first.
WARNING_STAGES: tuple[tuple[int, str], ...] = ((14, "T-14"), (3, "T-3"))


def warning_stage(*, due: datetime, now: datetime) -> str | None:
    """The stage a deadline is in: ``T-3`` within 3 days, ``T-14`` within 14, else (or once passed) ``None``."""
    if due <= now:
        return None
    stage = None
    for days, label in WARNING_STAGES:
        if due - now <= timedelta(days=days):
            stage = label
    return stage


def _days_left(due: datetime, now: datetime) -> int:
    return max(0, (due - now).days)


def _absolute(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def _record(*, kind: str, subject_id: str, due: datetime, stage: str, email: str) -> bool:
    """Claim this warning; ``False`` when it was sent before (by an earlier or a concurrent run)."""
    try:
        with transaction.atomic():
            ClockWarning.objects.create(
                kind=kind, subject_id=subject_id, due_at=due, stage=stage, sent_at=timezone.now(), emailed=bool(email)
            )
    except IntegrityError:
        return False
    return True


def _email_on_commit(*, to: str, subject: str, body: str) -> None:
    if not to:
        return

    def send() -> None:
        try:
            send_mail(subject, body, None, [to])
        except Exception:  # a mail outage must not undo the warning (the webhook went out; the dashboard shows it)
            logger.exception("could not email a compliance warning to a user")

    transaction.on_commit(send)


def _reconfirmation_warnings(now: datetime) -> int:
    consents = Consent.objects.filter(
        status=Consent.Status.AUTHORISED,
        expires_at__gt=timezone.now(),
        reconfirm_by__gt=now,
        reconfirm_by__lte=now + timedelta(days=WARNING_STAGES[0][0]),
    ).select_related("application", "user")
    sent = 0
    for consent in consents:
        due = consent.reconfirm_by
        stage = warning_stage(due=due, now=now)
        email = consent.user.email if consent.user else ""
        if stage is None:
            continue
        with transaction.atomic():
            if not _record(
                kind=ClockWarning.Kind.RECONFIRMATION_DUE, subject_id=str(consent.pk), due=due, stage=stage, email=email
            ):
                continue
            days = _days_left(due, now)
            publish(
                DomainEvent(
                    name="consent.reconfirmation_due",
                    subject_type="consent",
                    subject_id=str(consent.pk),
                    data={"reconfirm_by": due.isoformat(), "days_left": days, "stage": stage},
                )
            )
            link = _absolute(reverse("consent:reconfirm") + f"?consent={consent.pk}")
            _email_on_commit(
                to=email,
                subject=f"Reconfirm your consent for {consent.application.name} by {due:%d %b %Y}",
                body=(
                    f"{consent.application.name} can read your bank data under a consent you gave. UK rules ask "
                    f"you to confirm every 90 days that it may go on. Please reconfirm by {due:%d %b %Y} "
                    f"({days} days left), or it will stop reading your data until you do:\n\n{link}\n\n"
                    "Nothing changes at your bank. You can also withdraw the consent from the same page."
                ),
            )
        sent += 1
    return sent


def _reauth_warnings(now: datetime) -> int:
    connections = Connection.objects.filter(
        status__in=[Connection.Status.ACTIVE, Connection.Status.ERROR], last_sca_at__isnull=False
    ).select_related("institution", "user")
    sent = 0
    for connection in connections.iterator():
        due = connection_reauthenticate_by(connection)
        stage = warning_stage(due=due, now=now) if due is not None else None
        if stage is None:
            continue
        email = connection.user.email
        with transaction.atomic():
            if not _record(
                kind=ClockWarning.Kind.REAUTH_DUE,
                subject_id=str(connection.public_id),
                due=due,
                stage=stage,
                email=email,
            ):
                continue
            days = _days_left(due, now)
            publish(
                DomainEvent(
                    name="connection.reauth_due",
                    subject_type="connection",
                    subject_id=str(connection.public_id),
                    data={"reauthenticate_by": due.isoformat(), "days_left": days, "stage": stage},
                )
            )
            bank = connection.institution.name
            start = reverse("connections:connect-start", kwargs={"institution_slug": connection.institution.slug})
            link = _absolute(start + "?next=" + reverse("consent:dashboard"))
            _email_on_commit(
                to=email,
                subject=f"Re-authenticate with {bank} by {due:%d %b %Y}",
                body=(
                    f"{bank} asks you to sign in again every 180 days to keep sharing your account data. Please "
                    f"re-authenticate by {due:%d %b %Y} ({days} days left), or your data from {bank} stops being "
                    f"refreshed until you do:\n\n{link}\n"
                ),
            )
        sent += 1
    return sent


def clock_warnings_send(*, now: datetime | None = None) -> dict[str, Any]:
    """One run of the periodic task: the EU day-180 stop, then the warnings due. Idempotent."""
    now = now or compliance_now()
    return {
        "sca_expired": connections_sca_expire_due(now=now),
        "reconfirmation_due": _reconfirmation_warnings(now),
        "reauth_due": _reauth_warnings(now),
    }
