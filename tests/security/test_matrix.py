"""The isolation and OAuth negative matrices of ``matrix.py``, run row by row, and the test that keeps them
exhaustive: every URL pattern under ``/api/`` and ``/oauth/`` has rows (issue 17, the suite)."""

from __future__ import annotations

import base64
import re

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from .endpoints import endpoints
from .matrix import ALLOWED_ROW_ELSEWHERE, ISOLATION, NOT_IN_MATRIX, OAUTH, Case, OAuthCase
from .world import TPP_SECRET, World, build_world

pytestmark = pytest.mark.django_db

_PLACEHOLDER = re.compile(r"\{(token|refresh|client_id):([^}]+)\}")


@pytest.fixture
def world(db, no_broker) -> World:  # type: ignore[no-untyped-def]
    return build_world()


def _bearer(world: World, actor: str | None) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {world.tokens[actor]}"} if actor else {}


def _path(world: World, case: Case) -> str:
    return reverse(case.name, kwargs={k: world.ref(v) for k, v in case.path.items()})


def _works(world: World, actor: str) -> bool:
    client = Client()
    response = client.get("/api/v1/consents/current", **_bearer(world, actor))
    return response.status_code == 200


def test_every_api_and_oauth_url_pattern_has_rows_in_the_matrix():
    covered = {c.name for c in ISOLATION} | {c.name for c in OAUTH} | set(NOT_IN_MATRIX)
    patterns = {e.name for e in endpoints(under=("api/", "oauth/"))}
    missing = sorted(patterns - covered)
    assert not missing, f"URL patterns with no row in tests/security/matrix.py: {missing}"
    assert not covered - patterns, f"rows naming no URL pattern: {sorted(covered - patterns)}"


def test_every_api_pattern_has_a_refused_row_and_an_allowed_row():
    """A matrix of refusals alone passes against a server that refuses everything (and the reverse)."""
    for name in {c.name for c in ISOLATION} - set(ALLOWED_ROW_ELSEWHERE):
        statuses = {c.status for c in ISOLATION if c.name == name}
        assert any(s < 300 for s in statuses) and any(s >= 400 for s in statuses), name


def _row(world: World, subtests, case, check) -> None:  # type: ignore[no-untyped-def]
    """One row in a savepoint rolled back afterwards: rows that change state (a DELETE) leave the world as it
    was for the next row, and the world is built once."""
    with subtests.test(msg=str(case)), transaction.atomic():
        check(world, case)
        transaction.set_rollback(True)


def test_isolation(world, subtests):
    for case in ISOLATION:
        _row(world, subtests, case, _isolation)


def _isolation(world: World, case: Case) -> None:
    response = Client().generic(case.method, _path(world, case), **_bearer(world, case.actor))

    assert response.status_code == case.status, response.content[:300]
    body = response.content.decode()
    leaked = {ref for ref in world.foreign_ids(case.actor or "") if ref in body}
    assert not leaked, f"{case.actor} saw ids it must not see: {leaked}"
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/json"
        assert response.json()["errors"][0]["code"]


def _fill(world: World, value: str) -> str:
    def one(match: re.Match) -> str:
        kind, key = match.groups()
        if kind == "token":
            return world.tokens[key]
        if kind == "refresh":
            return world.refresh_tokens[key]
        return world.apps[key].client_id

    return _PLACEHOLDER.sub(one, value)


def _client_auth(world: World, client: str | None) -> dict[str, str]:
    if client is None:
        return {}
    if client == "unknown":
        user, secret = "no-such-client", TPP_SECRET
    else:
        tpp, _, wrong = client.partition(":")
        user, secret = world.apps[tpp].client_id, ("wrong-secret" if wrong else TPP_SECRET)
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def test_oauth_negative(world, subtests):
    for case in OAUTH:
        _row(world, subtests, case, _oauth)


def _oauth(world: World, case: OAuthCase) -> None:
    data = {k: _fill(world, v) for k, v in case.data.items()}
    client = Client()
    path = reverse(case.name)
    if case.method == "GET":
        response = client.get(path, data, **_client_auth(world, case.client))
    else:
        response = client.generic(
            case.method,
            path,
            "&".join(f"{k}={v}" for k, v in data.items()),
            content_type="application/x-www-form-urlencoded",
            **_client_auth(world, case.client),
        )

    assert response.status_code == case.status, response.content[:300]
    if case.error is not None:
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"] == case.error
    if response.status_code >= 400 and case.name != "consent:authorize":
        assert response["Content-Type"] == "application/json", response.content[:200]
    if case.still_valid:
        assert _works(world, case.still_valid), f"{case.still_valid} stopped working"
