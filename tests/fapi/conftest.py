"""A FAPI 2.0 TPP (docs/examples/fapi2_client.py's client) talking to the aggregator in-process over WSGI."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from joserfc.jwk import ECKey

from consent.tpp import tpp_create
from tests.consent import flow
from tests.consent.conftest import alice, sandbox_banks  # noqa: F401 - alice, and the live server's sandbox banks
from tests.factories import AccountFactory, ConnectionFactory, InstitutionFactory

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "fapi2_client.py"
BASE = "http://testserver"
REDIRECT_URI = flow.REDIRECT_URI


def load_example():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("fapi2_client", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


fapi2_client = load_example()


@pytest.fixture(autouse=True)
def _fast_and_synchronous(settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The access log is written in the request (no background thread writing after the test's rollback).
    settings.AGGREGATOR = {**settings.AGGREGATOR, "ACCESS_LOG_FLUSH_SECONDS": 0}


@pytest.fixture
def wsgi():  # type: ignore[no-untyped-def]
    """httpx clients served by Django in this thread, inside the test's transaction (as Django's test client does:
    no connection closing between requests)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    clients: list[httpx.Client] = []

    def make() -> httpx.Client:
        client = httpx.Client(transport=httpx.WSGITransport(app=WSGIHandler()), base_url=BASE, follow_redirects=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def alice_accounts(alice):  # type: ignore[no-untyped-def]  # noqa: F811
    institution = InstitutionFactory(slug="albion", name="Albion Bank", provider="obie")
    connection = ConnectionFactory(user=alice, institution=institution)
    return [AccountFactory(connection=connection, display_name="Everyday"), AccountFactory(connection=connection)]


@pytest.fixture
def tpp_key():  # type: ignore[no-untyped-def]
    return ECKey.generate_key("P-256", auto_kid=True)


@pytest.fixture
def fapi_app(db, tpp_key):  # type: ignore[no-untyped-def]
    return tpp_create(
        name="Fapi Finance",
        redirect_uris=[REDIRECT_URI],
        profile="fapi2",
        jwks={"keys": [tpp_key.as_dict(private=False)]},
    ).application


@pytest.fixture
def tpp(wsgi, fapi_app, tpp_key):  # type: ignore[no-untyped-def]
    return fapi2_client.Fapi2Client(http=wsgi(), client_id=fapi_app.client_id, key=tpp_key, redirect_uri=REDIRECT_URI)


def approve(wsgi, tpp, consent_id: str) -> tuple[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    """Push, let alice approve on the consent screen; (request_uri, callback parameters)."""
    request_uri = tpp.push_authorization_request(consent_id)
    browser = wsgi()
    screen = flow.open_consent_screen(browser, tpp.authorization_url(request_uri), "alice", "alice-demo")
    assert screen.status_code == 200, screen.text[:500]
    response = flow.submit_consent(browser, screen, "approve")
    return request_uri, flow.callback_params(response)


@pytest.fixture
def bound(wsgi, tpp, alice_accounts):  # type: ignore[no-untyped-def]
    """A TPP holding DPoP-bound tokens of an authorised consent (the whole FAPI 2.0 flow, in-process)."""
    consent = tpp.create_consent()
    _request_uri, params = approve(wsgi, tpp, consent["id"])
    tpp.exchange(params)
    return tpp
