"""HEAD through the real WSGI handler (Django's test client strips HEAD bodies itself, so it cannot see this)."""

from __future__ import annotations

import io

import pytest
from django.core.handlers.wsgi import WSGIHandler

pytestmark = pytest.mark.django_db


def _wsgi(method: str, path: str) -> tuple[str, dict[str, str], bytes]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
    }
    started: dict = {}

    def start_response(status, headers, exc_info=None):  # type: ignore[no-untyped-def]
        started["status"], started["headers"] = status, dict(headers)

    body = b"".join(WSGIHandler()(environ, start_response))
    return started["status"], started["headers"], body


@pytest.mark.parametrize("path", ["/api/v1/accounts", "/api/v1/no-such-thing", "/accounts/login/"])
def test_head_answers_carry_the_get_headers_and_no_body(path):
    get_status, _, get_body = _wsgi("GET", path)
    head_status, head_headers, head_body = _wsgi("HEAD", path)
    assert get_body and head_body == b""
    assert head_status == get_status
    assert head_headers["Content-Length"] == str(len(get_body))
