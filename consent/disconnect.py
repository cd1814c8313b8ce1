"""Disconnecting a user's bank: end the bank-side consent where the dialect allows, end the consents that depend
on the connection's accounts, and mark the connection disconnected.

``connection_dependent_consents`` is what the confirmation page lists; ``connection_disconnect`` does it:

1. The bank first (a network call, outside any database transaction): ``adapter.revoke`` where the adapter
   ``supports_revoke`` — refreshing the credentials once if the bank refused the access token. A dialect without
   the capability, missing credentials or a bank that fails do not stop the disconnection: the user asked to
   stop sharing, and every token we hold is deleted below. The outcome says what happened at the bank.
2. Then, in one transaction: every authorised consent sharing an account of the connection is revoked through
   ``consent_revoke`` (a ``ConsentEvent`` each, tokens ended, webhooks published), and the connection becomes
   ``disconnected`` with its encrypted credentials wiped and no sync scheduled. Accounts and their history stay
   (reconnecting the same bank brings them back); they are no longer offered on the consent screen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from aggregator.connections.credentials import credentials_load
from aggregator.models import Connection
from providers.base import AccessTokenExpiredError, ProviderError
from providers.registry import adapter_for

from .models import Consent
from .services import ConsentStateError, consent_revoke

__all__ = [
    "BankRevocation",
    "DisconnectResult",
    "connection_dependent_consents",
    "connection_disconnect",
]

logger = logging.getLogger(__name__)


class BankRevocation:
    """What happened to the consent at the bank."""

    REVOKED = "revoked"
    NOT_SUPPORTED = "not_supported"
    FAILED = "failed"
    ALREADY_DISCONNECTED = "already_disconnected"


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


def _revoke_at_bank(*, connection: Connection) -> tuple[str, str]:
    try:
        adapter = adapter_for(connection.institution)
    except Exception:  # a misconfigured institution must not keep the user from disconnecting
        logger.exception("no adapter for %s: the bank-side consent is left alone", connection.institution.slug)
        return BankRevocation.FAILED, "no_adapter"
    if not adapter.supports_revoke:
        return BankRevocation.NOT_SUPPORTED, ""
    try:
        credentials = credentials_load(connection=connection)
        try:
            adapter.revoke(credentials)
        except AccessTokenExpiredError:
            adapter.revoke(adapter.refresh(credentials))
    except ProviderError as exc:
        logger.warning(
            "revoking the bank-side consent of connection %s at %s failed: %s (%s)",
            connection.public_id, connection.institution.slug, exc, exc.code,
        )  # fmt: skip
        if exc.code == "not_supported":
            return BankRevocation.NOT_SUPPORTED, ""
        return BankRevocation.FAILED, exc.code
    return BankRevocation.REVOKED, ""


def connection_disconnect(*, connection: Connection, user: Any) -> DisconnectResult:
    """Disconnect the user's own ``connection`` (see the module docstring). Disconnecting twice is harmless."""
    if connection.user_id != user.pk:
        raise ValueError("a user can only disconnect their own bank connections")
    if connection.status == Connection.Status.DISCONNECTED:
        return DisconnectResult(connection=connection, bank=BankRevocation.ALREADY_DISCONNECTED)

    bank, bank_error = _revoke_at_bank(connection=connection)
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
        locked.status = Connection.Status.DISCONNECTED
        locked.encrypted_credentials = ""
        locked.credentials_expire_at = None
        locked.next_sync_at = None
        locked.last_error = ""
        locked.save(
            update_fields=[
                "status", "encrypted_credentials", "credentials_expire_at", "next_sync_at", "last_error", "updated_at",
            ]
        )  # fmt: skip
    logger.info(
        "user %s disconnected connection %s (%s); bank-side: %s; %d consent(s) revoked",
        user.pk, locked.public_id, locked.institution.slug, bank, len(revoked),
    )  # fmt: skip
    return DisconnectResult(connection=locked, bank=bank, revoked_consents=revoked, bank_error=bank_error)
