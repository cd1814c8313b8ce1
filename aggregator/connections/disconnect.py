"""The data domain's side of disconnecting a bank: ending the bank-side consent where the dialect allows, and the
connection's own state. (Which consents end with it is consent's business: ``consent.disconnect``.)"""

from __future__ import annotations

import logging

from providers.base import AccessTokenExpiredError, ProviderError
from providers.registry import adapter_for

from ..models import Connection
from .credentials import credentials_load

__all__ = ["BankRevocation", "connection_mark_disconnected", "connection_revoke_at_bank"]

logger = logging.getLogger(__name__)


class BankRevocation:
    """What happened to the consent at the bank."""

    REVOKED = "revoked"
    NOT_SUPPORTED = "not_supported"
    FAILED = "failed"
    ALREADY_DISCONNECTED = "already_disconnected"


def connection_revoke_at_bank(*, connection: Connection) -> tuple[str, str]:
    """Revoke the bank-side consent (refreshing once if the bank refused the access token); never raises."""
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


def connection_mark_disconnected(*, connection: Connection) -> None:
    """The connection ends: its encrypted credentials are wiped and nothing is scheduled (call it on a locked row,
    inside the caller's transaction). Its accounts and their history stay."""
    connection.status = Connection.Status.DISCONNECTED
    connection.encrypted_credentials = ""
    connection.credentials_expire_at = None
    connection.next_sync_at = None
    connection.last_error = ""
    connection.save(
        update_fields=[
            "status",
            "encrypted_credentials",
            "credentials_expire_at",
            "next_sync_at",
            "last_error",
            "updated_at",
        ]
    )
