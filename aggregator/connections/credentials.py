"""Bank credentials on a connection: stored encrypted (``providers.credentials`` does the cryptography), loaded,
refreshed before they expire, and re-encrypted with the newest key (``manage.py rotate_credential_keys``)."""

from __future__ import annotations

from django.db import transaction

from providers.base import BankAdapter, Credentials, ReauthRequiredError
from providers.credentials import credentials_decrypt, credentials_encrypt, token_rotate

from ..models import Connection

__all__ = ["credentials_fresh", "credentials_load", "credentials_rotate_all", "credentials_store"]


def credentials_store(*, connection: Connection, credentials: Credentials) -> None:
    """Encrypt ``credentials`` onto ``connection`` (an ``aggregator.models.Connection``) and save those fields."""
    connection.encrypted_credentials = credentials_encrypt(credentials)
    connection.credentials_expire_at = credentials.expires_at
    fields = ["encrypted_credentials", "credentials_expire_at", "updated_at"]
    if credentials.consent_id:
        connection.upstream_consent_id = credentials.consent_id
        connection.upstream_consent_expires_at = credentials.consent_expires_at
        fields += ["upstream_consent_id", "upstream_consent_expires_at"]
    if connection.pk:
        connection.save(update_fields=fields)
    else:
        connection.save()


def credentials_load(*, connection: Connection) -> Credentials:
    """The connection's decrypted credentials; ``ReauthRequiredError`` when none are stored."""
    if not connection.encrypted_credentials:
        raise ReauthRequiredError("no bank credentials stored for this connection", code="no_credentials")
    return credentials_decrypt(connection.encrypted_credentials)


def credentials_fresh(*, connection: Connection, adapter: BankAdapter, leeway: float = 60.0) -> Credentials:
    """Load the credentials and, when the access token is (nearly) expired, refresh and store them first.

    Refresh tokens rotate: the new pair is stored before it is returned, so a crash right after never leaves
    the connection holding a spent refresh token.
    """
    credentials = credentials_load(connection=connection)
    if credentials.needs_refresh(leeway=leeway):
        credentials = adapter.refresh(credentials)
        credentials_store(connection=connection, credentials=credentials)
    return credentials


def credentials_rotate_all(*, batch_size: int = 500) -> int:
    """Re-encrypt every stored credential with the newest key; returns how many rows were rewritten."""
    count = 0
    pks = list(Connection.objects.exclude(encrypted_credentials="").order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), batch_size):
        with transaction.atomic():
            rows = Connection.objects.select_for_update().filter(pk__in=pks[start : start + batch_size])
            for pk, token in rows.values_list("pk", "encrypted_credentials"):
                if not token:
                    continue
                rotated = token_rotate(token)
                Connection.objects.filter(pk=pk).update(encrypted_credentials=rotated)
                count += 1
    return count
