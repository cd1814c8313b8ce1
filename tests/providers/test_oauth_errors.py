"""A bank's OAuth error answers (RFC 6749 §5.2) become the provider error they are, with a remedy."""

from __future__ import annotations

import httpx
import pytest

from providers.base import (
    ClientRejectedError,
    PermanentProviderError,
    ReauthRequiredError,
    TransientProviderError,
)
from providers.oauth import OAuthServer, token_request
from providers.oauth_errors import OAUTH_ERRORS, oauth_error

TOKEN_URL = "https://bank.test/sandbox/albion/oauth/token"
SERVER = OAuthServer(issuer="https://bank.test", authorization_endpoint="https://bank.test/a", token_endpoint=TOKEN_URL)


def _refused(bank_mock, status: int, body: dict | None):  # type: ignore[no-untyped-def]
    bank_mock.post(TOKEN_URL).mock(return_value=httpx.Response(status, json=body) if body else httpx.Response(status))
    return token_request(SERVER, client_id="aggregator-albion", client_secret="s", form={"grant_type": "x"})


@pytest.mark.parametrize(
    ("status", "error", "expected", "code"),
    [
        (401, "invalid_client", ClientRejectedError, "oauth_invalid_client"),
        (400, "unauthorized_client", ClientRejectedError, "oauth_unauthorized_client"),
        (400, "invalid_scope", ClientRejectedError, "oauth_invalid_scope"),
        (400, "unsupported_grant_type", ClientRejectedError, "oauth_unsupported_grant_type"),
        (400, "invalid_request", ClientRejectedError, "oauth_invalid_request"),
        (400, "invalid_grant", ReauthRequiredError, "invalid_grant"),
        (400, "server_error", TransientProviderError, "oauth_server_error"),
        (400, "temporarily_unavailable", TransientProviderError, "oauth_temporarily_unavailable"),
        (400, "something_new", PermanentProviderError, "oauth_something_new"),
    ],
)
def test_each_token_endpoint_error_raises_what_it_means(bank_mock, status, error, expected, code):
    with pytest.raises(expected) as caught:
        _refused(bank_mock, status, {"error": error, "error_description": "as the bank put it"})
    assert type(caught.value) is expected and caught.value.code == code
    assert "as the bank put it" in str(caught.value)


def test_an_unknown_client_is_told_how_to_register_it(bank_mock):
    with pytest.raises(ClientRejectedError) as caught:
        _refused(bank_mock, 401, {"error": "invalid_client"})
    message = str(caught.value)
    assert "does not know our OAuth client 'aggregator-albion'" in message
    assert "AGGREGATOR_INSTITUTIONS" in message and "manage.py sandbox_bootstrap" in message


def test_a_bare_401_from_the_token_endpoint_is_a_refused_client(bank_mock):
    with pytest.raises(ClientRejectedError) as caught:
        _refused(bank_mock, 401, None)
    assert caught.value.code == "oauth_invalid_client"


def test_a_client_rejection_is_permanent_for_every_caller_that_knows_only_the_base_taxonomy():
    assert issubclass(ClientRejectedError, PermanentProviderError)
    assert not issubclass(ClientRejectedError, TransientProviderError | ReauthRequiredError)


def test_every_rfc_6749_error_code_has_an_entry():
    rfc = {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "unsupported_response_type",
        "server_error",
        "temporarily_unavailable",
    }
    assert rfc <= set(OAUTH_ERRORS)
    for error in rfc:
        assert oauth_error(error).code in {f"oauth_{error}", "invalid_grant"}
