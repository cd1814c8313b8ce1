"""Seeded fault injection for the ``flaky`` user: realistic, reproducible, never more than two faults in a row."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from providers.sandbox import faults
from providers.sandbox.models import SandboxCounter

from .banking import (
    ALBION,
    LIBERTY,
    RHEIN,
    assert_conforms,
    connect,
    demo_clients,  # noqa: F401  (fixture)
)


@pytest.fixture(autouse=True)
def _no_real_sleep(monkeypatch):  # type: ignore[no-untyped-def]
    slept: list[float] = []
    monkeypatch.setattr(faults, "sleep", slept.append)
    return slept


def _plan(bank: str, n: int = 3000) -> list[faults.Fault | None]:
    return [faults.planned_fault(seed=1004, bank=bank, client_id=f"aggregator-{bank}", n=i) for i in range(1, n + 1)]


@pytest.mark.parametrize("bank", ["albion", "rhein", "liberty"])
def test_plan_is_deterministic_and_realistic(bank):
    plan = _plan(bank)
    assert plan == _plan(bank)
    kinds = Counter(f.kind for f in plan if f)
    share = sum(kinds.values()) / len(plan)
    assert 0.15 < share < 0.35
    expected = {"429", "500", "slow", "truncated"} | ({"503"} if bank != "albion" else set())
    assert set(kinds) == expected
    assert all(0.2 <= f.delay <= 1.0 for f in plan if f and f.kind == "slow")


@pytest.mark.parametrize("bank", ["albion", "rhein", "liberty"])
def test_never_more_than_two_faults_in_a_row(bank):
    run = longest = 0
    for fault in _plan(bank):
        run = run + 1 if fault else 0
        longest = max(longest, run)
    assert longest == 2


def test_other_seeds_give_other_plans():
    a = [faults.planned_fault(seed=1, bank="rhein", client_id="c", n=i) for i in range(1, 200)]
    b = [faults.planned_fault(seed=2, bank="rhein", client_id="c", n=i) for i in range(1, 200)]
    assert a != b


def _observe(client, bank: str, tokens: dict, calls: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Outcome of each call: the status code, or 'truncated' for a 200 whose JSON is cut."""
    outcomes = []
    for _ in range(calls):
        if bank == "albion":
            response = client.get(f"{ALBION}/accounts", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
        elif bank == "rhein":
            response = client.get(
                f"{RHEIN}/accounts",
                HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}",
                HTTP_CONSENT_ID=tokens["consent_id"],
                HTTP_X_REQUEST_ID=str(uuid.uuid4()),
            )
        else:
            response = client.get(f"{LIBERTY}/accounts", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
        if response.status_code == 200:
            try:
                json.loads(response.content)
            except ValueError:
                outcomes.append("truncated")
                continue
        assert_conforms(bank, response)
        if response.status_code in {429, 503}:
            assert response["Retry-After"] == "1"
        outcomes.append(str(response.status_code))
    return outcomes


@pytest.mark.django_db
@pytest.mark.usefixtures("demo_clients")
@pytest.mark.parametrize("bank", ["albion", "rhein", "liberty"])
def test_flaky_user_sees_the_planned_faults_reproducibly(client, bank, _no_real_sleep):
    tokens = connect(client, bank, username="flaky")
    first = _observe(client, bank, tokens, 60)
    SandboxCounter.objects.filter(key__startswith=f"fault:{bank}:").delete()  # replay from request 1
    second = _observe(client, bank, tokens, 60)
    assert first == second
    expected = []
    for fault in _plan(bank, 60):
        kind = fault.kind if fault else "200"
        expected.append({"slow": "200"}.get(kind, kind))
    assert first == expected
    assert set(first) - {"200"}, "the flaky user saw no fault at all"
    assert _no_real_sleep and all(d <= 1.0 for d in _no_real_sleep)


@pytest.mark.django_db
@pytest.mark.usefixtures("demo_clients")
def test_normal_users_never_see_faults(client):
    tokens = connect(client, "liberty", username="alice")
    assert set(_observe(client, "liberty", tokens, 30)) == {"200"}
    assert not SandboxCounter.objects.filter(key__startswith="fault:").exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("demo_clients")
def test_bounded_retries_always_succeed(client):
    tokens = connect(client, "liberty", username="flaky")
    for _ in range(40):  # each logical call retried at most twice
        outcomes = _observe(client, "liberty", tokens, 1)
        attempts = 1
        while outcomes[-1] != "200":
            outcomes += _observe(client, "liberty", tokens, 1)
            attempts += 1
        assert attempts <= 3
