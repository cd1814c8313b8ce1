"""Disconnecting a user's bank: end the bank-side consent where the dialect allows, end the consents that depend
on the connection's accounts, and mark the connection disconnected.

``connection_dependent_consents`` is what the confirmation page lists; ``connection_disconnect`` does it:

1. The bank first (a network call, outside any database transaction): ``connection_revoke_at_bank`` (the data
   domain's side, ``aggregator.connections.disconnect``). A dialect without the capability, missing credentials
   or a bank that fails do not stop the disconnection: the user asked to stop sharing, and every token we hold
   is deleted below. The outcome says what happened at the bank.
2. Then, in one transaction: every authorised consent sharing an account of the connection is revoked through
   ``consent_revoke`` (a ``ConsentEvent`` each, tokens ended, webhooks published), and the connection becomes
   ``disconnected`` (``connection_mark_disconnected``: credentials wiped, no sync scheduled). Accounts and their
   history stay (reconnecting the same bank brings them back); they are no longer offered on the consent screen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from aggregator.connections.disconnect import BankRevocation, connection_mark_disconnected, connection_revoke_at_bank
from aggregator.models import Connection

from .models import Consent
from .services import ConsentStateError, consent_revoke

__all__ = [
    "BankRevocation",
    "DisconnectResult",
    "connection_dependent_consents",
    "connection_disconnect",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DisconnectResult:
    connection: Connection
    bank: str  # a BankRevocation value
    revoked_consents: list[Consent] = field(default_factory=list)
    bank_error: str = ""


def connection_dependent_consents(*, connection: Connection) -> QuerySet[Consent]:
    """The authorised consents that share at least one account of ``connection`` (they end with it)."""
    return (
        Consent.objects.filter(
            user_id=connection.user_id, status=Consent.Status.AUTHORISED, accounts__connection=connection
        )
        .distinct()
        .select_related("application")
        .prefetch_related("accounts")
        .order_by("-authorised_at", "-created_at")
    )


def connection_disconnect(*, connection: Connection, user: Any) -> DisconnectResult:
    """Disconnect the user's own ``connection`` (see the module docstring). Disconnecting twice is harmless."""
    if connection.user_id != user.pk:
        raise ValueError("a user can only disconnect their own bank connections")
    if connection.status == Connection.Status.DISCONNECTED:
        return DisconnectResult(connection=connection, bank=BankRevocation.ALREADY_DISCONNECTED)

    bank, bank_error = connection_revoke_at_bank(connection=connection)
    reason = f"The user disconnected {connection.institution.name}, whose accounts this consent shared."
    revoked: list[Consent] = []
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        for consent in connection_dependent_consents(connection=locked):
            try:
                consent_revoke(consent=consent, actor_type="user", actor_user=user, reason=reason)
            except ConsentStateError:
                continue  # ended concurrently (expired, revoked by the TPP): nothing left to do
            revoked.append(consent)
        connection_mark_disconnected(connection=locked)
    logger.info(
        "user %s disconnected connection %s (%s); bank-side: %s; %d consent(s) revoked",
        user.pk, locked.public_id, locked.institution.slug, bank, len(revoked),
    )  # fmt: skip
    return DisconnectResult(connection=locked, bank=bank, revoked_consents=revoked, bank_error=bank_error)
