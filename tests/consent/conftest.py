from __future__ import annotations

import pytest

from tests.factories import AccountFactory, ConnectionFactory, InstitutionFactory, UserFactory


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(db):  # type: ignore[no-untyped-def]
    user = UserFactory(username="alice")
    user.set_password("alice-demo")
    user.save()
    return user


@pytest.fixture
def alice_accounts(alice):  # type: ignore[no-untyped-def]
    """Alice's pre-connected sandbox bank (stands in for the /connect/ flow)."""
    institution = InstitutionFactory(slug="albion", name="Albion Bank", provider="obie")
    connection = ConnectionFactory(user=alice, institution=institution)
    return [
        AccountFactory(connection=connection, display_name="Everyday", iban="GB29NWBK60161331926819"),
        AccountFactory(connection=connection, display_name="Savings"),
    ]


@pytest.fixture
def sandbox_banks(live_server, settings):  # type: ignore[no-untyped-def]
    """The sandbox banks served by the live server, with their institutions and demo OAuth clients."""
    from django.db import connection

    if "sandbox_sandboxclient" not in connection.introspection.table_names():
        pytest.skip("the sandbox banks' OAuth tables are not migrated (providers.sandbox)")
    from aggregator.services import institution_sync_sandbox
    from providers.sandbox.oauth.clients import client_sync_demo

    settings.SANDBOX_BASE_URL = live_server.url + "/sandbox"
    institution_sync_sandbox()
    client_sync_demo()
    return live_server
