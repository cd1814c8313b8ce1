"""EU re-authentication clock (PSD2 RTS Art. 10a, as amended by Delegated Regulation 2022/2360), and the one
gate every unattended sync passes.

The bank applies strong customer authentication (SCA) at the first access through an aggregator and again when
more than 180 days have passed since the last one. We record the last SCA per connection (``last_sca_at``, on the
compliance clock: set by the connect flow, first connection and every reconnect) and stop unattended access on
day 180: ``reauthenticate_by = last_sca_at + 180 days``; from that instant the connection is not synced
unattended and is moved to ``reauth_required`` (the user re-authenticates through the bank with the ordinary
reconnect flow, which sets ``last_sca_at`` again and reactivates it).

:func:`unattended_sync_allowed` is the single question the scheduler and the sync engine ask before an unattended
(scheduled or third-party-triggered) sync. Rules of upper layers (a UK consent not reconfirmed, in ``consent``)
join it through :func:`unattended_gate_register` — the data domain never imports them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from ..domain_events import DomainEvent, publish
from ..models import Connection
from .clock import compliance_now
from .regimes import regime_for_institution

__all__ = [
    "SCA_EXPIRED_CODE",
    "UnattendedGate",
    "connection_reauthenticate_by",
    "connection_sca_expire",
    "connection_sca_lapsed",
    "connection_sca_recorded",
    "connections_sca_expire_due",
    "unattended_gate_register",
    "unattended_sync_allowed",
    "unattended_sync_refusals",
]

logger = logging.getLogger(__name__)

SCA_EXPIRED_CODE = "sca_expired"

# (connections, now) → {connection pk: reason code} for those of them this rule stops unattended access to. A gate
# answers for a whole dispatcher tick at once (a fixed number of queries, whatever the number of connections).
UnattendedGate = Callable[[Sequence[Connection], datetime], dict[int, str]]
_gates: dict[str, UnattendedGate] = {}


def unattended_gate_register(name: str, gate: UnattendedGate) -> None:
    """Add a rule to :func:`unattended_sync_allowed` (idempotent per ``name``; called from ``AppConfig.ready``)."""
    _gates[name] = gate


def connection_reauthenticate_by(connection: Connection) -> datetime | None:
    """When the bank's SCA of this connection lapses (the start of day 180), or ``None`` when its regime has no
    such clock or no SCA was recorded yet."""
    days = regime_for_institution(connection.institution).sca_days
    if days is None or connection.last_sca_at is None:
        return None
    return connection.last_sca_at + timedelta(days=days)


def connection_sca_lapsed(connection: Connection, *, now: datetime | None = None) -> bool:
    """180 days (``sca_days``) have fully passed since the last SCA: day 179 is still allowed, day 180 is not."""
    due = connection_reauthenticate_by(connection)
    return due is not None and (now or compliance_now()) >= due


def connection_sca_recorded(connection: Connection, *, at: datetime | None = None) -> None:
    """The user just authenticated at the bank (the caller saves the connection)."""
    connection.last_sca_at = at or compliance_now()


@transaction.atomic
def connection_sca_expire(*, connection: Connection) -> bool:
    """Move an active (or erroring) connection whose SCA lapsed to ``reauth_required`` and announce it with the
    existing ``connection.reauth_required`` event (``error_code`` ``sca_expired``). Idempotent: ``False`` when
    it had already moved."""
    moved = Connection.objects.filter(
        pk=connection.pk, status__in=[Connection.Status.ACTIVE, Connection.Status.ERROR]
    ).update(
        status=Connection.Status.REAUTH_REQUIRED,
        next_sync_at=None,
        last_error=f"{SCA_EXPIRED_CODE}: 180 days since the last strong customer authentication at the bank",
        updated_at=timezone.now(),
    )
    if not moved:
        return False
    connection.refresh_from_db()
    publish(
        DomainEvent(
            name="connection.reauth_required",
            subject_type="connection",
            subject_id=str(connection.public_id),
            data={"error_code": SCA_EXPIRED_CODE},
        )
    )
    logger.info("connection %s: SCA lapsed, re-authentication required", connection.pk)
    return True


def connections_sca_expire_due(*, now: datetime | None = None) -> int:
    """Expire the SCA of every active connection past its deadline (the periodic clock task). Idempotent."""
    now = now or compliance_now()
    candidates = Connection.objects.filter(
        status__in=[Connection.Status.ACTIVE, Connection.Status.ERROR], last_sca_at__isnull=False
    ).select_related("institution")
    count = 0
    for connection in candidates.iterator():
        if connection_sca_lapsed(connection, now=now) and connection_sca_expire(connection=connection):
            count += 1
    return count


def unattended_sync_allowed(*, connection: Connection, now: datetime | None = None) -> bool:
    """May the aggregator sync ``connection`` without the user present? ``False`` when a compliance clock stopped
    unattended access: its SCA lapsed (the connection is moved to ``reauth_required`` on the way) or a
    registered rule says so (UK: every consent it serves awaits reconfirmation)."""
    return connection.pk not in unattended_sync_refusals(connections=[connection], now=now)


def unattended_sync_refusals(*, connections: Sequence[Connection], now: datetime | None = None) -> dict[int, str]:
    """:func:`unattended_sync_allowed` for many connections at once (the dispatcher's tick): ``{pk: reason}`` of
    those that may not be synced unattended."""
    now = now or compliance_now()
    refused: dict[int, str] = {}
    for connection in connections:
        if connection_sca_lapsed(connection, now=now):
            connection_sca_expire(connection=connection)
            refused[connection.pk] = SCA_EXPIRED_CODE
    remaining = [c for c in connections if c.pk not in refused]
    for name, gate in _gates.items():
        if not remaining:
            break
        for pk, reason in gate(remaining, now).items():
            logger.info("connection %s: no unattended sync (%s: %s)", pk, name, reason)
            refused[pk] = reason
        remaining = [c for c in remaining if c.pk not in refused]
    return refused
