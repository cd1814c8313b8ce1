"""The abuse matrix (issue 17): hostile input at every endpoint the URL resolver knows — so a new endpoint is
covered the day it is added — as anyone, as a consent-bound TPP and as a client-credentials TPP.

Inputs: every method (and a made-up one); path parameters with NUL, unicode, bidi overrides, traversal, SQL and
3,000-character values; every query parameter of the endpoint (from the OpenAPI document for ``/api/``, the
OAuth parameters for ``/oauth/``, a common set elsewhere) with the same values, and repeated; bodies nested
1,000 deep, oversize, malformed, with NUL escapes, in the wrong content types; forged cursors (random, overlong,
tampered, signed for another consent, of another purpose); ``Accept: text/html``.

Every answer must be below 500; under ``/api/`` and ``/oauth/`` an error is never HTML and has the one error
shape of its area (the data API's ``{"errors": [{"code", …}], "request_id"}``, RFC 6749's ``{"error"}`` at the
token endpoints). The exceptions are pages by design, listed in ``HTML_PAGES`` with the reason.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from django.test import Client

from .endpoints import Endpoint, endpoints
from .world import World, build_world

pytestmark = pytest.mark.django_db

# Pages for a person's browser under /api/ or /oauth/: their errors are HTML by design.
HTML_PAGES = {
    "api-docs": "Swagger UI",
    "consent:authorize": "the consent screen (RFC 6749 §4.1.2.1: errors about the client are shown to the user)",
    "consent:payment-callback": "the bank's redirect back to the user's browser after its SCA (a page for a person)",
}

HOSTILE_VALUES = [
    "\x00",
    "a\x00b",
    "é\u202e😀\u0301",
    "\ufeff\ufffe",
    "../../../../etc/passwd",
    "' OR '1'='1' --",
    "x" * 3000,
    "-1",
    "1e999",
    "[]",
]
FEW_VALUES = ["\x00", "é\u202e😀\u0301", "\ufeff\ufffe", "x" * 3000]
NESTED = "[" * 1000 + "]" * 1000
OVERSIZE = b"x" * (3 * 1024 * 1024)
OAUTH_PARAMS = [
    "grant_type",
    "client_id",
    "client_secret",
    "code",
    "redirect_uri",
    "code_verifier",
    "code_challenge",
    "code_challenge_method",
    "refresh_token",
    "scope",
    "state",
    "response_type",
    "consent_id",
    "token",
    "token_type_hint",
]
COMMON_PARAMS = ["state", "code", "error", "next", "page", "consent_id", "client_id", "scope", "bank", "txn"]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"]


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    query: str = ""
    body: bytes = b""
    content_type: str = ""
    extra: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        shown = f"{self.method} {self.path[:80]}{'?' + self.query[:80] if self.query else ''}"
        return f"{shown} [{self.content_type} {len(self.body)}B]" if self.body else shown


@pytest.fixture(scope="module")
def api_parameters(django_db_blocker) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Path → its query parameter names, from the OpenAPI document."""
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    found: dict[str, list[str]] = {}
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            found.setdefault(path, []).extend(n for n in names if n not in found.get(path, []))
    return found


@pytest.fixture
def world(db, no_broker) -> World:  # type: ignore[no-untyped-def]
    return build_world()


def _real_value(world: World, endpoint: Endpoint, name: str) -> str:
    """A value that resolves for ``a@alice`` (so the probes reach past the 404 of an unknown id)."""
    by_name = {
        "account_id": "alice.shared",
        "sync_id": "alice.sync",
        "consent_id": "alice.consent_a",
        "connection_id": "alice.connection",
    }
    if name in by_name:
        return world.ref(by_name[name])
    return {"bank": "albion", "institution_slug": "albion", "txn": "nope"}.get(name, "x")


def _query_names(endpoint: Endpoint, api_parameters: dict[str, list[str]]) -> list[str]:
    if endpoint.route.startswith("api/v1/"):
        openapi = "/" + re.sub(r"<(?:[^>:]+:)?([^>]+)>", r"{\1}", endpoint.route)
        return api_parameters.get(openapi, []) or ["cursor"]
    if endpoint.route.startswith("oauth/"):
        return OAUTH_PARAMS
    return COMMON_PARAMS


def _cursors(world: World) -> list[str]:
    from aggregator.cursors import cursor_encode

    other_owner = cursor_encode({"s": None}, purpose="delta", owner=world.ref("bob.consent_a"))
    other_purpose = cursor_encode({"d": "2026-01-01", "i": 1}, purpose="transactions", owner="x")
    mine = cursor_encode({"s": None}, purpose="delta", owner=world.ref("alice.consent_a"))
    return [
        "eyJzIjpudWxsfQ",
        "A" * 600,
        mine[:-2] + ("AA" if not mine.endswith("AA") else "BB"),
        other_owner,
        other_purpose,
        "%00",
    ]


def probes(
    endpoint: Endpoint, world: World, api_parameters: dict[str, list[str]], *, full: bool = True
) -> Iterator[Probe]:
    """The probes of one endpoint; ``full=False`` (the normal run) sends fewer values in path parameters, and
    outside /api/ and /oauth/ each hostile value once in all query parameters together and three bodies."""
    real = {name: quote(_real_value(world, endpoint, name), safe="") for name in endpoint.params}
    path = endpoint.path(real)
    ours = endpoint.route.startswith(("api/", "oauth/"))
    for method in METHODS:
        yield Probe(method, path)
    for name in endpoint.params:
        for value in HOSTILE_VALUES if full else FEW_VALUES:
            yield Probe("GET", endpoint.path({**real, name: quote(value, safe="")}))
    names = _query_names(endpoint, api_parameters)
    if not (full or ours):
        for value in FEW_VALUES:
            yield Probe("GET", path, "&".join(f"{n}={quote(value, safe='')}" for n in names))
        yield Probe("POST", path, body=NESTED.encode(), content_type="application/json")
        yield Probe("POST", path, body=OVERSIZE, content_type="application/json")
        yield Probe("POST", path, body=b"a=%00&b=\xff", content_type="application/x-www-form-urlencoded")
        return
    for name in names:
        for value in FEW_VALUES:
            yield Probe("GET", path, f"{name}={quote(value, safe='')}")
        yield Probe("GET", path, f"{name}=1&{name}=2&{name}[]=3&{name}[a][b]=4")
        if name == "cursor":
            for cursor in _cursors(world):
                yield Probe("GET", path, f"cursor={quote(cursor, safe='%')}")
    yield Probe("GET", path, "&".join(f"{n}=%00" for n in names))
    yield Probe("GET", path, extra=(("HTTP_ACCEPT", "text/html"),))
    yield Probe("GET", path, extra=(("HTTP_ACCEPT", "application/xml"),))
    form_nul = "&".join(f"{n}=a%00" for n in names).encode()
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        yield Probe(method, path, body=NESTED.encode(), content_type="application/json")
        yield Probe(method, path, body=b'{"a": ', content_type="application/json")
        if method != "POST" and not full:
            continue
        yield Probe(method, path, body=b'{"permissions": ["\\u0000"], "x": 1e999}', content_type="application/json")
        yield Probe(method, path, body=b"\xff\xfe\x00garbage", content_type="application/json")
        yield Probe(method, path, body=form_nul, content_type="application/x-www-form-urlencoded")
    yield Probe("POST", path, body=b"<x>&xxe;</x>", content_type="application/xml")
    yield Probe("POST", path, body=b"--b\r\n\r\n", content_type="multipart/form-data; boundary=b")
    yield Probe("POST", path, body=OVERSIZE, content_type="application/json")


def _actors(world: World) -> dict[str, dict[str, str]]:
    return {
        "anyone": {},
        "a@alice": {"HTTP_AUTHORIZATION": f"Bearer {world.tokens['a@alice']}"},
        "a:cc": {"HTTP_AUTHORIZATION": f"Bearer {world.tokens['a:cc']}"},
        "garbage": {"HTTP_AUTHORIZATION": "Bearer \x00\u202e" + "A" * 5000},
    }


def _check(endpoint: Endpoint, probe: Probe, response) -> str | None:  # type: ignore[no-untyped-def]
    status = response.status_code
    if status >= 500 and status != 503:
        return f"{status}"
    if status == 503 and "Retry-After" not in response and endpoint.name != "healthz":  # readiness: 503 is its job
        return "503 without Retry-After"
    if status < 400 or endpoint.name in HTML_PAGES or probe.method == "HEAD":
        return None
    if not endpoint.route.startswith(("api/", "oauth/")):
        return None
    content_type = response.get("Content-Type", "")
    if not content_type.startswith("application/json"):
        return f"{status} {content_type}"
    body = response.json()
    if endpoint.route.startswith("api/"):
        errors = body.get("errors")
        if not (isinstance(errors, list) and errors and errors[0].get("code") and body.get("request_id")):
            return f"{status} not the API error shape: {str(body)[:120]}"
    elif not isinstance(body.get("error"), str):
        return f"{status} not RFC 6749 error JSON: {str(body)[:120]}"
    return None


@pytest.fixture
def _quiet_request_log():  # type: ignore[no-untyped-def]
    """Thousands of 4xx warnings would cost more than the requests."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def _run(world: World, api_parameters: dict[str, list[str]], plan: dict[str, tuple[str, ...]], full: bool) -> None:
    failures: list[str] = []
    count = 0
    for actor, headers in _actors(world).items():
        if actor not in plan:
            continue
        client = Client(raise_request_exception=False)
        for endpoint in endpoints(under=plan[actor]):
            for probe in probes(endpoint, world, api_parameters, full=full):
                kwargs = {**headers, **dict(probe.extra)}
                path = probe.path + (f"?{probe.query}" if probe.query else "")
                response = client.generic(probe.method, path, probe.body, probe.content_type or "", **kwargs)
                count += 1
                problem = _check(endpoint, probe, response)
                if problem:
                    failures.append(f"{actor}: {probe} -> {problem}")
    assert count > 1000
    assert not failures, f"{len(failures)} of {count} probes failed:\n" + "\n".join(failures[:40])


def test_no_input_at_an_api_or_oauth_endpoint_is_a_5xx_or_an_html_error(world, api_parameters, _quiet_request_log):
    """The normal run: anyone and a consent-bound TPP at /api/ and /oauth/, anyone at the other pages."""
    plan = {"anyone": ("",), "a@alice": ("api/", "oauth/")}
    _run(world, api_parameters, plan, full=False)


@pytest.mark.chaos
def test_no_input_at_any_endpoint_is_a_5xx_or_an_html_error_whoever_sends_it(world, api_parameters, _quiet_request_log):
    """``make chaos``: every probe, every actor (a client-credentials TPP and a garbage token too)."""
    plan = {"anyone": ("",), "a@alice": ("",), "a:cc": ("api/", "oauth/"), "garbage": ("api/", "oauth/")}
    _run(world, api_parameters, plan, full=True)
