"""Upstream credentials: encrypted at rest, never shown, key rotation."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db_connection

from aggregator.connections.credentials import credentials_load, credentials_store
from aggregator.models import Connection
from providers.base import Credentials, PermanentProviderError, ReauthRequiredError
from tests.factories import ConnectionFactory

SECRET_ACCESS = "access-0f9e8d7c6b5a-PLAINTEXT"
SECRET_REFRESH = "refresh-1a2b3c4d5e6f-PLAINTEXT"
CREDS = Credentials(
    access_token=SECRET_ACCESS,
    refresh_token=SECRET_REFRESH,
    expires_at=datetime(2026, 11, 25, 12, tzinfo=UTC),
    consent_id="aac-42",
    consent_expires_at=datetime(2027, 2, 23, tzinfo=UTC),
    scope="accounts",
    extra={"note": "x"},
)


@pytest.fixture
def keys(settings):  # type: ignore[no-untyped-def]
    key = Fernet.generate_key().decode()
    settings.AGGREGATOR = {**settings.AGGREGATOR, "CREDENTIAL_KEYS": [key]}
    return [key]


def test_credentials_round_trip(db, keys):
    connection = ConnectionFactory()
    credentials_store(connection=connection, credentials=CREDS)
    connection.refresh_from_db()
    assert credentials_load(connection=connection) == CREDS
    assert connection.upstream_consent_id == "aac-42"
    assert connection.credentials_expire_at == CREDS.expires_at


def test_the_database_holds_no_plaintext_token(db, keys):
    connection = ConnectionFactory()
    credentials_store(connection=connection, credentials=CREDS)

    with db_connection.cursor() as cursor:
        cursor.execute("SELECT * FROM aggregator_connection WHERE id = %s", [connection.pk])
        row = " ".join(str(value) for value in cursor.fetchone())
    assert connection.encrypted_credentials in row
    assert SECRET_ACCESS not in row and SECRET_REFRESH not in row
    assert "access-0f9e8d7c6b5a" not in row


def test_credentials_never_show_their_tokens():
    assert SECRET_ACCESS not in repr(CREDS) and SECRET_REFRESH not in str(CREDS)
    assert SECRET_ACCESS not in f"{CREDS}"


def test_missing_credentials_require_reauthentication(db, keys):
    with pytest.raises(ReauthRequiredError):
        credentials_load(connection=ConnectionFactory())


def test_rotation_re_encrypts_with_the_newest_key(db, keys, settings):
    connection = ConnectionFactory()
    credentials_store(connection=connection, credentials=CREDS)
    old_token = Connection.objects.get(pk=connection.pk).encrypted_credentials
    new_key = Fernet.generate_key().decode()
    settings.AGGREGATOR = {**settings.AGGREGATOR, "CREDENTIAL_KEYS": [new_key, *keys]}

    call_command("rotate_credential_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115

    rotated = Connection.objects.get(pk=connection.pk)
    assert rotated.encrypted_credentials != old_token
    settings.AGGREGATOR = {**settings.AGGREGATOR, "CREDENTIAL_KEYS": [new_key]}  # the old key is gone
    assert credentials_load(connection=rotated) == CREDS


def test_a_lost_key_is_an_operator_error_not_a_reauth(db, keys, settings):
    connection = ConnectionFactory()
    credentials_store(connection=connection, credentials=CREDS)
    settings.AGGREGATOR = {**settings.AGGREGATOR, "CREDENTIAL_KEYS": [Fernet.generate_key().decode()]}
    with pytest.raises(PermanentProviderError) as excinfo:
        credentials_load(connection=Connection.objects.get(pk=connection.pk))
    assert excinfo.value.code == "credentials_undecryptable"


def test_local_runs_without_keys_generate_a_private_key_file(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.AGGREGATOR = {**settings.AGGREGATOR, "CREDENTIAL_KEYS": []}
    connection = ConnectionFactory()
    credentials_store(connection=connection, credentials=CREDS)

    key_file = tmp_path / "credential_key"
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert credentials_load(connection=connection) == CREDS


def test_credentials_needing_refresh():
    now = datetime(2026, 11, 25, 11, 59, 30, tzinfo=UTC)
    assert CREDS.needs_refresh(now=now, leeway=60)
    assert not CREDS.needs_refresh(now=now, leeway=10)
    assert not Credentials(access_token="a", expires_at=CREDS.expires_at).needs_refresh(now=now)
