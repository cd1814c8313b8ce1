"""The shared HTTP client: headers, redirects, retries honouring Retry-After, limits and error mapping."""

from __future__ import annotations

import httpx
import pytest

from providers.base import PermanentProviderError, RateLimitedError, ReauthRequiredError, TransientProviderError
from providers.http import USER_AGENT, parse_retry_after, provider_client

URL = "https://bank.test/api/thing"


def test_every_call_carries_a_request_id_and_user_agent_and_logs_it(bank_mock, caplog):
    route = bank_mock.get(URL).mock(return_value=httpx.Response(200, json={"ok": True}))
    caplog.set_level("INFO", logger="providers.http")

    response = provider_client().request("GET", URL, headers={"Authorization": "Bearer secret-token"})

    sent = route.calls.last.request.headers
    assert sent["x-fapi-interaction-id"] == sent["X-Request-ID"] == response.request_id
    assert sent["User-Agent"] == USER_AGENT
    assert response.request_id in caplog.text and "secret-token" not in caplog.text


def test_each_call_gets_its_own_request_id(bank_mock):
    bank_mock.get(URL).mock(return_value=httpx.Response(200, json={}))
    assert provider_client().request("GET", URL).request_id != provider_client().request("GET", URL).request_id


def test_redirects_are_never_followed_silently(bank_mock):
    bank_mock.get(URL).mock(return_value=httpx.Response(302, headers={"Location": "https://evil.test/"}))
    with pytest.raises(PermanentProviderError, match="redirect"):
        provider_client().request("GET", URL)
    response = provider_client().request("GET", URL, allow_redirects=True)
    assert response.status == 302 and response.location == "https://evil.test/"


def test_server_errors_are_retried_with_backoff_then_succeed(bank_mock, sleeps):
    route = bank_mock.get(URL).mock(
        side_effect=[httpx.Response(500), httpx.Response(503), httpx.Response(200, json={"n": 1})]
    )
    assert provider_client().request("GET", URL).json() == {"n": 1}
    assert route.call_count == 3 and len(sleeps) == 2


def test_retries_are_bounded(bank_mock, sleeps, settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "HTTP_MAX_RETRIES": 2}
    route = bank_mock.get(URL).mock(return_value=httpx.Response(502))
    with pytest.raises(TransientProviderError):
        provider_client().request("GET", URL)
    assert route.call_count == 3


def test_retry_after_is_honoured(bank_mock, sleeps):
    bank_mock.get(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={})]
    )
    provider_client().request("GET", URL)
    assert sleeps == [7.0]


def test_a_retry_after_beyond_the_cap_is_raised_to_the_caller(bank_mock, sleeps):
    route = bank_mock.get(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimitedError) as excinfo:
        provider_client().request("GET", URL)
    assert excinfo.value.retry_after == 3600.0 and route.call_count == 1 and sleeps == []


def test_post_is_not_retried_on_server_errors_but_is_on_429(bank_mock, sleeps):
    route = bank_mock.post(URL).mock(return_value=httpx.Response(500))
    with pytest.raises(TransientProviderError):
        provider_client().request("POST", URL, json_body={})
    assert route.call_count == 1
    route.mock(side_effect=[httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(201, json={})])
    assert provider_client().request("POST", URL, json_body={}).status == 201


def test_a_truncated_json_body_is_transient_and_retried(bank_mock, sleeps):
    full = b'{"Data": {"Transaction": [{"TransactionId": "T1"}]}}'
    route = bank_mock.get(URL).mock(
        side_effect=[httpx.Response(200, content=full[: len(full) // 2]), httpx.Response(200, content=full)]
    )
    response = provider_client().request("GET", URL)
    assert route.call_count == 2 and len(sleeps) == 1
    assert response.json()["Data"]["Transaction"][0]["TransactionId"] == "T1"


def test_a_body_that_stays_truncated_is_a_transient_error_never_partial_data(bank_mock, sleeps):
    bank_mock.get(URL).mock(return_value=httpx.Response(200, content=b'{"Data": {"Transaction": [{"Transa'))
    with pytest.raises(TransientProviderError) as excinfo:
        provider_client().request("GET", URL)
    assert excinfo.value.code == "malformed_response"


def test_timeouts_and_connection_failures_are_transient(bank_mock, sleeps, settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "HTTP_MAX_RETRIES": 1}
    bank_mock.get(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TransientProviderError) as excinfo:
        provider_client().request("GET", URL)
    assert excinfo.value.code == "timeout"
    bank_mock.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransientProviderError):
        provider_client().request("POST", URL)
    assert len(sleeps) == 2  # a POST that never reached the bank is safe to retry


def test_responses_over_the_size_limit_are_refused(bank_mock, settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "HTTP_MAX_RESPONSE_BYTES": 100}
    bank_mock.get(URL).mock(return_value=httpx.Response(200, content=b"x" * 101))
    with pytest.raises(PermanentProviderError) as excinfo:
        provider_client().request("GET", URL)
    assert excinfo.value.code == "response_too_large"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, ReauthRequiredError),
        (400, PermanentProviderError),
        (404, PermanentProviderError),
        (503, TransientProviderError),
    ],
)
def test_default_status_mapping(bank_mock, sleeps, status, error):
    bank_mock.get(URL).mock(return_value=httpx.Response(status))
    with pytest.raises(error):
        provider_client().request("GET", URL, retries=0)


def test_retry_after_parses_seconds_and_http_dates():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_the_shared_client_keeps_no_cookies(bank_mock):
    bank_mock.get(URL).mock(return_value=httpx.Response(200, json={}, headers={"Set-Cookie": "s=1; Path=/"}))
    route = bank_mock.get(URL + "/2").mock(return_value=httpx.Response(200, json={}))
    provider_client().request("GET", URL)
    provider_client().request("GET", URL + "/2")
    assert "cookie" not in route.calls.last.request.headers
