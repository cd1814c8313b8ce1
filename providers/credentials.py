"""Upstream (bank) credentials, encrypted at rest with MultiFernet.

Keys come from ``settings.AGGREGATOR["CREDENTIAL_KEYS"]`` (url-safe base64 Fernet keys, newest first: the first
encrypts, all decrypt). In local and test runs with no keys configured, one key is generated into
``DATA_DIR/credential_key`` (untracked, mode 0600); production refuses to start without keys (settings).
Storing credentials on a connection (and ``rotate_credential_keys``) is the aggregator's business:
``aggregator.connections.credentials``; this module only encrypts and decrypts.

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

from .base import Credentials, PermanentProviderError
from .conf import provider_settings

__all__ = [
    "credentials_decrypt",
    "credentials_encrypt",
    "decrypt_text",
    "encrypt_text",
    "token_rotate",
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


def token_rotate(token: str) -> str:
    """``token`` re-encrypted with the newest key (``MultiFernet.rotate``)."""
    return _fernet().rotate(token.encode()).decode()
