"""Log lines: JSON with the bound context; secrets masked even when a message carries one by mistake."""

from __future__ import annotations

import json
import logging

import pytest

from aggregator.observability.context import log_context_bind, log_context_bound, log_context_clear
from aggregator.observability.logs import ConsoleFormatter, ContextFilter, JsonFormatter, RedactFilter, redact


def _record(msg: str, *args: object) -> logging.LogRecord:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, msg, args, None)
    ContextFilter().filter(record)
    RedactFilter().filter(record)
    return record


def test_a_json_line_carries_the_bound_context():
    log_context_clear()
    log_context_bind(request_id="req-1", tpp=7)
    with log_context_bound(sync_run_id="run-9", connection_id="conn-3"):
        line = json.loads(JsonFormatter().format(_record("synced %d rows", 12)))
    assert line["message"] == "synced 12 rows" and line["level"] == "info" and line["logger"] == "test"
    assert (line["request_id"], line["tpp"], line["sync_run_id"], line["connection_id"]) == (
        "req-1",
        "7",
        "run-9",
        "conn-3",
    )
    after = json.loads(JsonFormatter().format(_record("later")))
    assert "sync_run_id" not in after and after["request_id"] == "req-1"
    log_context_clear()


def test_the_console_line_is_readable_with_its_context():
    log_context_clear()
    with log_context_bound(request_id="abc"):
        assert ConsoleFormatter().format(_record("hello")).endswith("INFO test hello [request_id=abc]")


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer eyAbCdEfGhIjKlMnOpQrStUv",
        "token request {'access_token': 'Zm9vYmFyYmF6cXV4', 'expires_in': 600}",
        "refresh_token=Zm9vYmFyYmF6cXV4&grant_type=refresh_token",
        "client_secret=topsecretvalue",
        "jwt eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
        "paid to GB29NWBK60161331926819 today",
        "paid to GB29 NWBK 6016 1331 9268 19 today",
        "account 12345678 sort code 60-16-13",
    ],
)
def test_secrets_and_account_numbers_are_masked(text):
    masked = redact(text)
    for secret in (
        "eyAbCdEfGhIjKlMnOpQrStUv",
        "Zm9vYmFyYmF6cXV4",
        "topsecretvalue",
        "c2lnbmF0dXJl",
        "GB29",
        "12345678",
    ):
        assert secret not in masked


def test_ids_durations_and_statuses_are_left_alone():
    text = "bank call GET /accounts status=200 ms=1234 request_id=8d6cc14a-aa68-45de-8da2-7817f6850e46 at 2026-11-30"
    assert redact(text) == text


def test_an_exception_trace_is_masked_too():
    try:
        raise ValueError("bad token=Zm9vYmFyYmF6cXV4")
    except ValueError:
        record = logging.LogRecord("test", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info())
    RedactFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert "ValueError" in line["exc"] and "Zm9vYmFyYmF6cXV4" not in line["exc"]
