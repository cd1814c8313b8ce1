"""Hostile input is refused at the door, before any view, parser or query sees it: never a 5xx.

:class:`HostileInputMiddleware` runs right after the request id is assigned and refuses:

* a request target (path and query string) longer than :data:`MAX_URL_LENGTH` → ``414``, a header larger than
  :data:`MAX_HEADER_BYTES` or more than :data:`MAX_HEADER_COUNT` headers → ``431``: below gunicorn's own limits
  (``gunicorn.conf.py``), whose refusals are HTML pages without ``X-Request-ID``, so these answer in our shape;
* a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` → ``413`` (Django raises ``RequestDataTooBig`` when the body
  is first read, which inside a DRF view or an OAuth view became a ``500``);
* a form with more than ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` fields, or a malformed multipart body → ``400``;
* a JSON body nested deeper than :data:`MAX_JSON_DEPTH` → ``400`` (Python's ``json`` recurses once per level and
  raised ``RecursionError`` around 1,000, even in the token authentication that parses the body first);
* a NUL character anywhere it could reach a query: the path (outside ``/api/``, whose ids are parsed first), a
  query parameter, a form field, a cookie, the Basic credentials (also percent-encoded, which OAuth clients decode),
  or a ``\\u0000`` escape in a JSON body → ``400`` (PostgreSQL's text columns cannot store NUL: ``DataError``). No
  legitimate request carries one.

The refusal speaks the dialect of the path: the API's error shape under ``/api/``
(:func:`aggregator.api.errors.json_error_response`), RFC 6749 JSON ``invalid_request`` under ``/oauth/`` and at the
sandbox banks' OAuth endpoints (:func:`consent.oauth_errors.oauth_error_response`), plain text elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from urllib.parse import unquote

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError

from aggregator.api.errors import API_PREFIX, json_error_response
from consent.oauth_errors import oauth_error_response

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_HEADER_COUNT",
    "MAX_JSON_DEPTH",
    "MAX_URL_LENGTH",
    "HostileInputMiddleware",
    "json_too_deep",
]

# Deeper than any body the API accepts (a consent is two levels) and far below Python's recursion limit.
MAX_JSON_DEPTH = 64
# Path plus query string, as sent (percent-encoded). Our cursors are under 200 characters; 4 KB is gunicorn's
# default request line, and gunicorn.conf.py raises gunicorn's to 8,190 so that this limit answers first.
MAX_URL_LENGTH = 4096
# One header (name and value) and the number of headers; gunicorn.conf.py sets gunicorn's above both.
MAX_HEADER_BYTES = 8192
MAX_HEADER_COUNT = 64

_OAUTH_PATH = re.compile(r"^/(?:oauth/|sandbox/[^/]+/oauth/)")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
# "\u0000" in a JSON string: a backslash-u escape that is not itself an escaped backslash.
_JSON_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays/objects deeper than ``limit`` (brackets inside strings do not count;
    linear, no recursion, and it does not need the text to be valid JSON)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth = max(0, depth - 1)
    return False


def _basic_credentials(request: HttpRequest) -> str:
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(value.strip(), validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def _has_nul(text: str) -> bool:
    return "\x00" in text or "\x00" in unquote(text)


class _Refused(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _raw_target_length(request: HttpRequest) -> int:
    path = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")  # gunicorn, uWSGI: as sent
    if path:
        return len(path)
    query = request.META.get("QUERY_STRING", "")
    return len(request.path_info.encode("utf-8", "surrogateescape")) + (len(query) + 1 if query else 0)


def _inspect_sizes(request: HttpRequest) -> None:
    if _raw_target_length(request) > MAX_URL_LENGTH:
        raise _Refused(414, f"The URL is longer than {MAX_URL_LENGTH} bytes.", "uri_too_long")
    headers = [(k, v) for k, v in request.META.items() if k.startswith("HTTP_")]
    if len(headers) > MAX_HEADER_COUNT:
        raise _Refused(431, f"The request has more than {MAX_HEADER_COUNT} headers.", "header_too_large")
    if any(len(k) - 5 + len(str(v)) > MAX_HEADER_BYTES for k, v in headers):
        raise _Refused(431, f"A request header is larger than {MAX_HEADER_BYTES} bytes.", "header_too_large")


def _inspect(request: HttpRequest) -> None:
    """Raise :class:`_Refused` for a request no view should see."""
    _inspect_sizes(request)
    # The API's path parameters are ids parsed before any query: a NUL there is the API's own 404 (and access log).
    if "\x00" in request.path and not request.path.startswith(API_PREFIX):
        raise _Refused(400, "The path contains a NUL character.")
    try:
        query = [(k, v) for k, values in request.GET.lists() for v in values]
    except SuspiciousOperation as exc:
        raise _Refused(400, f"The query string was refused: {exc}") from None
    if any("\x00" in k or "\x00" in v for k, v in query):
        raise _Refused(400, "A query parameter contains a NUL character.")
    if any("\x00" in k or "\x00" in v for k, v in request.COOKIES.items()):
        raise _Refused(400, "A cookie contains a NUL character.")
    if _has_nul(_basic_credentials(request)):
        raise _Refused(400, "The Basic credentials contain a NUL character.")
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit():
        raise _Refused(400, "The Content-Length header is malformed.")
    if not int(length):
        return
    content_type = request.content_type or ""
    try:
        body = request.body
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            fields = [(k, v) for k, values in request.POST.lists() for v in values]
            if any("\x00" in k or "\x00" in v for k, v in fields):
                raise _Refused(400, "A form field contains a NUL character.")
    except RequestDataTooBig:
        raise _Refused(413, "The request body is too large.") from None
    except (SuspiciousOperation, MultiPartParserError) as exc:
        raise _Refused(400, f"The request body was refused: {exc}") from None
    if "json" in content_type:
        if json_too_deep(body):
            raise _Refused(400, f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.", "parse_error")
        if _JSON_NUL_ESCAPE.search(body):
            raise _Refused(400, "The JSON body contains a NUL character.")


class HostileInputMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            _inspect(request)
        except _Refused as refused:
            return self._refusal(request, refused)
        return self.get_response(request)

    @staticmethod
    def _refusal(request: HttpRequest, refused: _Refused) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            return json_error_response(request, refused.status, refused.code, refused.message)
        if _OAUTH_PATH.match(request.path):
            return oauth_error_response(refused.status, "invalid_request", refused.message)
        return HttpResponse(refused.message, status=refused.status, content_type="text/plain; charset=utf-8")
