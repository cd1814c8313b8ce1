"""POST /consents/{id}/refresh under the regulatory limit of unattended access (RTS Art. 36(5)), on the sandbox
clock: 4 a day per account and data type, unless the user is present; the budget in ``meta.unattended_access``."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache

from aggregator.models import SyncRun, UnattendedAccess
from aggregator.sync.unattended import WINDOW
from providers.sandbox.clock import clock_advance, clock_reset, sandbox_now

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sandbox_clock(settings):  # type: ignore[no-untyped-def]
    settings.AGGREGATOR = {**settings.AGGREGATOR, "COMPLIANCE_CLOCK": "sandbox"}
    clock_reset()
    yield
    clock_reset()


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):  # type: ignore[no-untyped-def]
    sent: list[tuple[int, str]] = []
    monkeypatch.setattr(
        "aggregator.sync.services.enqueue_connection_sync",
        lambda *, sync_run_id, countdown=0, psu_ip_address="": sent.append((sync_run_id, psu_ip_address)),
    )
    return sent


def _refresh(api, consent, data_types=None, **headers):  # type: ignore[no-untyped-def]
    cache.clear()  # the per-consent hourly throttle (3 an hour) is not what these tests are about
    body = {"data_types": data_types} if data_types is not None else None
    return api.post(f"/api/v1/consents/{consent.pk}/refresh", body, format="json", headers=headers)


def test_four_unattended_balance_refreshes_pass_and_the_fifth_is_429_with_retry_after(api, consent):
    for n in range(4):
        response = _refresh(api, consent, ["balances"])
        assert response.status_code == 202, response.content
        assert response.json()["meta"]["unattended_access"]["balances"]["remaining"] == 3 - n
    response = _refresh(api, consent, ["balances"])
    assert response.status_code == 429
    error = response.json()["errors"][0]
    assert (error["code"], error["field"]) == ("unattended_limit_reached", "data_types")
    assert "balances" in error["message"] and "Art. 36(5)" in error["message"]
    assert 24 * 3600 - 60 <= int(response["Retry-After"]) <= 24 * 3600 + 120
    assert SyncRun.objects.filter(trigger="api").count() == 4


def test_the_refusal_names_the_next_free_time(api, consent):
    for _ in range(4):
        _refresh(api, consent, ["balances"])
    first = UnattendedAccess.objects.filter(data_type="balances").order_by("accessed_at").first()
    message = _refresh(api, consent, ["balances"]).json()["errors"][0]["message"]
    assert (first.accessed_at + WINDOW).astimezone(dt.UTC).isoformat() in message


def test_a_refused_refresh_queues_nothing_and_spends_nothing(api, consent):
    for _ in range(4):
        _refresh(api, consent, ["balances"])
    assert _refresh(api, consent).status_code == 429  # every data type: balances have none left
    assert SyncRun.objects.count() == 4
    assert UnattendedAccess.objects.filter(data_type="transactions").count() == 0


@pytest.mark.parametrize("header", ["PSU-IP-Address", "x-fapi-customer-ip-address"])
def test_the_fifth_balance_refresh_with_the_user_present_passes_and_is_not_counted(
    api, consent, enqueued, header, django_capture_on_commit_callbacks
):
    for _ in range(4):
        _refresh(api, consent, ["balances"])
    with django_capture_on_commit_callbacks(execute=True):
        response = _refresh(api, consent, ["balances"], **{header: "203.0.113.9"})
    assert response.status_code == 202, response.content
    assert enqueued[-1] == (SyncRun.objects.get(public_id=response.json()["data"]["id"]).pk, "203.0.113.9")
    assert UnattendedAccess.objects.filter(data_type="balances").count() == 4
    assert response.json()["meta"]["unattended_access"]["balances"]["remaining"] == 0


def test_a_user_present_header_that_is_not_an_ip_address_is_400(api, consent):
    response = _refresh(api, consent, ["balances"], **{"PSU-IP-Address": "somewhere"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "PSU-IP-Address"


def test_transactions_have_their_own_budget(api, consent):
    for _ in range(4):
        _refresh(api, consent, ["balances"])
    response = _refresh(api, consent, ["transactions"])
    assert response.status_code == 202, response.content
    budget = response.json()["meta"]["unattended_access"]
    assert budget["transactions"]["remaining"] == 3 and budget["balances"]["remaining"] == 0
    assert budget["accounts"] == {"limit": 4, "remaining": 4, "next_free_at": None}


def test_the_budget_frees_after_24_hours_on_the_sandbox_clock(api, consent):
    for _ in range(4):
        _refresh(api, consent, ["balances"])
    clock_advance(24 * 3600 - 120)
    assert _refresh(api, consent, ["balances"]).status_code == 429
    clock_advance(240)
    assert _refresh(api, consent, ["balances"]).status_code == 202


def test_the_run_reads_what_was_asked_and_its_reads_are_already_spent(api, consent, shared_account):
    response = _refresh(api, consent, ["balances", "transactions"])
    run = SyncRun.objects.get(public_id=response.json()["data"]["id"])
    assert run.data_types == ["balances", "transactions"]
    assert response.json()["data"]["data_types"] == ["balances", "transactions"]
    spent = UnattendedAccess.objects.filter(sync_run=run)
    assert sorted(spent.values_list("account_id", "data_type")) == [
        (shared_account.pk, "balances"),
        (shared_account.pk, "transactions"),
    ]


def test_by_default_a_refresh_reads_every_data_type_the_consent_permits(api, consent):
    consent.permissions = ["accounts", "balances"]
    consent.save(update_fields=["permissions"])
    run_id = _refresh(api, consent).json()["data"]["id"]
    assert SyncRun.objects.get(public_id=run_id).data_types == ["accounts", "balances"]


def test_a_data_type_the_consent_does_not_permit_is_403(api, consent):
    consent.permissions = ["accounts", "balances"]
    consent.save(update_fields=["permissions"])
    response = _refresh(api, consent, ["transactions"])
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_missing"


@pytest.mark.parametrize(("data_types", "code"), [(["ledger"], "invalid_choice"), ([], "empty")])
def test_an_unknown_or_empty_data_types_list_is_400(api, consent, data_types, code):
    response = _refresh(api, consent, data_types)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == code


def test_a_us_bank_is_not_capped(api, consent, shared_account):
    institution = shared_account.connection.institution
    institution.country = "US"
    institution.save(update_fields=["country"])
    for _ in range(6):
        response = _refresh(api, consent, ["balances"])
        assert response.status_code == 202
    assert response.json()["meta"]["unattended_access"]["balances"] == {
        "limit": None,
        "remaining": None,
        "next_free_at": None,
    }
    assert not UnattendedAccess.objects.exists()


def test_the_sync_resource_shows_the_budget_and_the_next_free_time(api, consent):
    for _ in range(4):
        run_id = _refresh(api, consent, ["balances"]).json()["data"]["id"]
    first = UnattendedAccess.objects.filter(data_type="balances").order_by("accessed_at").first()
    meta = api.get(f"/api/v1/syncs/{run_id}").json()["meta"]["unattended_access"]
    assert meta["balances"]["remaining"] == 0
    assert dt.datetime.fromisoformat(meta["balances"]["next_free_at"]) == first.accessed_at + WINDOW
    assert meta["transactions"] == {"limit": 4, "remaining": 4, "next_free_at": None}
    assert first.accessed_at <= sandbox_now()
