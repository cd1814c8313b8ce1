"""Upstream (bank) credentials, encrypted at rest with MultiFernet.

Keys come from ``settings.AGGREGATOR["CREDENTIAL_KEYS"]`` (url-safe base64 Fernet keys, newest first: the first
encrypts, all decrypt). In local and test runs with no keys configured, one key is generated into
``DATA_DIR/credential_key`` (untracked, mode 0600); production refuses to start without keys (settings).
``rotate_credential_keys`` re-encrypts every connection with the newest key.

Credentials are never logged and never shown: ``Credentials.__repr__`` hides the tokens, and the connection row
only holds the Fernet token (plus non-secret expiry times and the consent id).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from .base import BankAdapter, Credentials, PermanentProviderError, ReauthRequiredError
from .conf import provider_settings

__all__ = [
    "credentials_decrypt",
    "credentials_encrypt",
    "credentials_fresh",
    "credentials_load",
    "credentials_rotate_all",
    "credentials_store",
    "decrypt_text",
    "encrypt_text",
]


def _local_key_path() -> Path:
    return Path(settings.DATA_DIR) / "credential_key"


def _local_key() -> str:
    path = _local_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode())
    return path.read_text().strip()


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "CREDENTIAL_KEYS must be url-safe base64 Fernet keys (Fernet.generate_key())."
        ) from exc


def _keys() -> tuple[str, ...]:
    keys = tuple(k for k in provider_settings.CREDENTIAL_KEYS if k)
    if keys:
        return keys
    if getattr(settings, "IS_PRODUCTION", False):
        raise ImproperlyConfigured("CREDENTIAL_KEYS must be set in production.")
    return (_local_key(),)


def _fernet() -> MultiFernet:
    return _fernet_for(_keys())


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "AGGREGATOR":
        _fernet_for.cache_clear()


def encrypt_text(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt_text(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def credentials_encrypt(credentials: Credentials) -> str:
    payload = {
        "v": 1,
        "access_token": credentials.access_token,
        "refresh_token": credentials.refresh_token,
        "expires_at": _dt(credentials.expires_at),
        "consent_id": credentials.consent_id,
        "consent_expires_at": _dt(credentials.consent_expires_at),
        "scope": credentials.scope,
        "extra": dict(credentials.extra),
    }
    return encrypt_text(json.dumps(payload, separators=(",", ":")))


def credentials_decrypt(token: str) -> Credentials:
    try:
        payload = json.loads(decrypt_text(token))
    except InvalidToken as exc:
        # An operator problem (lost or rotated-out key), not the user's: do not flip connections to reauth.
        raise PermanentProviderError(
            "stored bank credentials cannot be decrypted with the configured CREDENTIAL_KEYS",
            code="credentials_undecryptable",
        ) from exc
    return Credentials(
        access_token=payload["access_token"],
        refresh_token=payload.get("refresh_token", ""),
        expires_at=_parse_dt(payload.get("expires_at")),
        consent_id=payload.get("consent_id", ""),
        consent_expires_at=_parse_dt(payload.get("consent_expires_at")),
        scope=payload.get("scope", ""),
        extra=payload.get("extra") or {},
    )


def credentials_store(*, connection: Any, credentials: Credentials) -> None:
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


def credentials_load(*, connection: Any) -> Credentials:
    """The connection's decrypted credentials; ``ReauthRequiredError`` when none are stored."""
    if not connection.encrypted_credentials:
        raise ReauthRequiredError("no bank credentials stored for this connection", code="no_credentials")
    return credentials_decrypt(connection.encrypted_credentials)


def credentials_fresh(*, connection: Any, adapter: BankAdapter, leeway: float = 60.0) -> Credentials:
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
    from django.db import transaction

    from aggregator.models import Connection

    fernet = _fernet()
    count = 0
    pks = list(Connection.objects.exclude(encrypted_credentials="").order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), batch_size):
        with transaction.atomic():
            rows = Connection.objects.select_for_update().filter(pk__in=pks[start : start + batch_size])
            for pk, token in rows.values_list("pk", "encrypted_credentials"):
                if not token:
                    continue
                rotated = fernet.rotate(token.encode()).decode()
                Connection.objects.filter(pk=pk).update(encrypted_credentials=rotated)
                count += 1
    return count
