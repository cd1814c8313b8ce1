"""TPP webhook secrets are encrypted at rest like bank credentials (issue 17 #13): never stored or shown in clear,
still usable for signing, re-encrypted on key rotation, and the existing clear-text ones encrypted by a migration."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from consent.models import Application
from providers.credentials import decrypt_text
from tests.factories import UserFactory

SECRET = "whsec_0123456789abcdefghijklmnopqrstuvwxyz"


def _raw_row(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM consent_application WHERE id = %s", [pk])
        return repr(cursor.fetchone())


def _app(**kwargs) -> Application:  # type: ignore[no-untyped-def]
    return Application.objects.create(
        name="Hooked", client_type="confidential", authorization_grant_type="authorization-code",
        redirect_uris="https://tpp.example/cb", webhook_url="https://tpp.example/hook", **kwargs,
    )  # fmt: skip


@pytest.mark.django_db
def test_the_secret_is_stored_encrypted_and_read_in_clear():
    app = _app(webhook_secret=SECRET)
    assert SECRET not in _raw_row(app.pk)
    stored = Application.objects.get(pk=app.pk)
    assert (
        stored.webhook_secret_encrypted.startswith("gAAAA") and decrypt_text(stored.webhook_secret_encrypted) == SECRET
    )
    assert stored.webhook_secret == SECRET


@pytest.mark.django_db
def test_no_secret_stays_empty():
    app = _app()
    assert Application.objects.get(pk=app.pk).webhook_secret_encrypted == "" and app.webhook_secret == ""


@pytest.mark.django_db
def test_the_admin_shows_neither_the_secret_nor_its_ciphertext(client):
    client.force_login(UserFactory(username="staff", is_staff=True, is_superuser=True))
    app = _app(webhook_secret=SECRET)
    page = client.get(f"/admin/consent/application/{app.pk}/change/").content.decode()
    assert SECRET not in page and app.webhook_secret_encrypted not in page and "gAAAA" not in page
    listing = client.get("/admin/consent/application/").content.decode()
    assert SECRET not in listing and "gAAAA" not in listing


@pytest.mark.django_db
def test_rotation_re_encrypts_with_the_newest_key(settings):
    app = _app(webhook_secret=SECRET)
    old_token = Application.objects.get(pk=app.pk).webhook_secret_encrypted
    new_key = Fernet.generate_key().decode()
    settings.AGGREGATOR = {**settings.AGGREGATOR, "CREDENTIAL_KEYS": [new_key, *_current_keys(settings)]}
    out = StringIO()
    call_command("rotate_webhook_secret_keys", stdout=out)
    assert "1 third-party app" in out.getvalue()
    token = Application.objects.get(pk=app.pk).webhook_secret_encrypted
    assert token != old_token and Fernet(new_key.encode()).decrypt(token.encode()).decode() == SECRET


def _current_keys(settings) -> list[str]:  # type: ignore[no-untyped-def]
    from providers.credentials import _keys

    return list(_keys())


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_clear_text_secrets():
    before = [("consent", "0007_fapi2_profile_par_dpop")]
    after = [("consent", "0008_application_webhook_secret_encrypted")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    OldApplication = old_apps.get_model("consent", "Application")
    old = OldApplication.objects.create(
        name="Legacy", client_id="legacy-client", client_type="confidential",
        authorization_grant_type="authorization-code", redirect_uris="https://tpp.example/cb",
        webhook_url="https://tpp.example/hook", webhook_secret=SECRET,
    )  # fmt: skip
    plain = OldApplication.objects.create(
        name="No hook", client_id="plain-client", client_type="confidential",
        authorization_grant_type="authorization-code", redirect_uris="https://tpp.example/cb",
    )  # fmt: skip
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    assert SECRET not in _raw_row(old.pk)
    assert Application.objects.get(pk=old.pk).webhook_secret == SECRET
    assert Application.objects.get(pk=plain.pk).webhook_secret_encrypted == ""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
