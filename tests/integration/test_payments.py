"""Payments end to end: a TPP (authlib) over live HTTP, our consent screen and the sandbox bank's own login and
approval page in a browser-like client, the real Celery worker submitting the payment, the sandbox clock settling
it, a sync reconciling the debit; and a crash between the bank's acceptance and our commit that must not pay twice.

PostgreSQL, Redis and the worker (tests/integration/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid

import httpx
import pytest

from aggregator.management.commands.sandbox_connect import _approve_button, _forms, sandbox_connect
from aggregator.payments.models import Payment
from aggregator.payments.outbox import payment_refresh_status, payments_check_due
from aggregator.sync.services import connection_sync
from providers.sandbox.bankdata import user_accounts
from providers.sandbox.testing import advance_clock
from tests.consent.flow import absolute, browser, callback_params, create_tpp, csrf, follow_local, open_consent_screen
from tests.factories import UserFactory

from .conftest import ground_truth

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DEBTOR_RE = re.compile(r'name="debtor_account" value="([^"]+)"')


def _wait(predicate, timeout: float = 60.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def _instruction(bank: str = "albion") -> dict:
    """12.50 to bob's first account at ``bank`` (a sandbox account: the bank's payee check applies)."""
    bob = user_accounts(bank, "bob")[0]
    body = {"amount": "12.50", "currency": bob.currency, "creditor_name": bob.holder_name,
            "reference": f"INV-{uuid.uuid4().hex[:8]}"}  # fmt: skip
    if bank == "albion":
        return {**body, "creditor_sort_code": bob.sort_code, "creditor_account_number": bob.account_number}
    return {**body, "creditor_iban": bob.iban}


def _manager(tpp):  # type: ignore[no-untyped-def]
    """The TPP's client-credentials client, patient with a loaded machine (the client secret is hashed slowly)."""
    client = tpp.client(timeout=60)
    client.fetch_token(tpp.token_url, grant_type="client_credentials", scope="consents")
    return client


def _payment_body(consent: dict) -> dict:
    """The POST /payments body: the consent's instruction repeated."""
    creditor = consent["creditor"]
    body = {k: consent[k] for k in ("amount", "currency", "reference")}
    body["creditor_name"] = creditor["name"]
    if creditor["iban"]:
        return {**body, "creditor_iban": creditor["iban"]}
    return {**body, "creditor_sort_code": creditor["sort_code"], "creditor_account_number": creditor["account_number"]}


def _approve_payment(base: str, tpp, consent_id: str, bank: str = "albion") -> dict:  # type: ignore[no-untyped-def]
    """Alice approves on our screen and at the bank (its own login and approval page); the TPP's tokens."""
    url, state, verifier = tpp.authorize_url(consent_id, scope="payments")
    with browser(base) as http:
        screen = open_consent_screen(http, url, "alice", "alice-demo")
        assert screen.status_code == 200 and "12.50 " in screen.text and "Robert Brennan" in screen.text
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', screen.text))
        fields.update(csrfmiddlewaretoken=csrf(screen.text), decision="approve",
                      debtor_account=DEBTOR_RE.findall(screen.text)[0])  # fmt: skip
        to_bank = http.post("/oauth/authorize/", data=fields)
        assert to_bank.status_code == 302 and f"/sandbox/{bank}/" in to_bank.headers["location"], to_bank.text[:300]
        page = follow_local(http, to_bank, until="/sandbox/")
        page = http.post(str(page.url), data={"username": "alice", "password": "sandbox",
                                              "csrfmiddlewaretoken": csrf(page.text)})  # fmt: skip
        page = follow_local(http, page, until="/sandbox/")
        assert "12.50" in page.text, page.text[:500]
        form = next(f for f in _forms(page.text) if f.method == "POST")  # the bank's approval, as a browser sends it
        fields = dict(form.fields + _approve_button(form))
        if "accounts" in form.names and "accounts" not in fields:
            fields["accounts"] = re.findall(r'name="accounts"[^>]*value="([^"]+)"', page.text)[0]
        back = http.post(absolute(str(page.url), form.action) if form.action else str(page.url), data=fields)
        for _ in range(4):  # bank → /connect/callback/ → /oauth/payment-callback/ → the TPP
            location = back.headers.get("location", "")
            if back.status_code != 302 or location.startswith(tpp.redirect_uri):
                break
            back = http.get(absolute(base, location))
        params = callback_params(back)
    assert params["state"] == state
    return tpp.exchange(f"{tpp.redirect_uri}?code={params['code']}&state={state}", verifier)


def _alice_at(bank: str):  # type: ignore[no-untyped-def]
    user = UserFactory(username="alice")
    user.set_password("alice-demo")
    user.save()
    return sandbox_connect(username="alice", bank=bank, sync=False)


@pytest.fixture
def alice_at_albion(sandbox):  # type: ignore[no-untyped-def]
    return _alice_at("albion")


# (bank, the bank's word for "accepted", for "settled")
BANKS = [("albion", "AcceptedSettlementInProcess", "AcceptedSettlementCompleted"), ("rhein", "ACTC", "ACSC")]


@pytest.mark.parametrize(("bank", "accepted_word", "settled_word"), BANKS)
def test_a_tpp_pays_from_alices_account_and_sees_the_debit_reconciled(
    sandbox, celery_worker, webhooks, bank, accepted_word, settled_word
):
    base = sandbox.url
    connection = _alice_at(bank)
    hook_url, received = webhooks
    tpp = create_tpp(base, name="Bill Pay")
    from consent.models import Application

    app = Application.objects.get(client_id=tpp.client_id)
    app.webhook_url, app.webhook_secret = hook_url, "w" * 32  # the secret is stored encrypted (a property)
    app.save(update_fields=["webhook_url", "webhook_secret_encrypted"])
    manager = _manager(tpp)
    created = manager.post(base + "/api/v1/payment-consents", json=_instruction(bank))
    assert created.status_code == 201, created.text
    consent = created.json()["data"]

    token = _approve_payment(base, tpp, consent["id"], bank)
    assert token["scope"] == "payments"
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=20)
    body = _payment_body(consent)
    key = str(uuid.uuid4())
    first = api.post("/api/v1/payments", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    payment_id = first.json()["data"]["id"]
    assert api.post("/api/v1/payments", json=body, headers={"Idempotency-Key": key}).json()["data"]["id"] == payment_id
    assert api.get("/api/v1/accounts").status_code == 403  # a payment token reads no data

    def status() -> dict:
        return api.get(f"/api/v1/payments/{payment_id}").json()["data"]

    _wait(lambda: status()["status"] == "accepted", what="the worker to submit the payment")  # the real worker
    assert status()["bank_status"] == accepted_word
    _wait(lambda: any(h["type"] == "payment.status_changed" for h in received), what="the webhook")
    hook = next(h for h in received if h["type"] == "payment.status_changed")
    assert hook["data"]["payment_id"] == payment_id and hook["data"]["status"] == "accepted"

    advance_clock(minutes=2)
    payment = payment_refresh_status(payment=Payment.objects.get(public_id=payment_id))
    assert (payment.status, payment.bank_status) == ("settled", settled_word)

    connection_sync(connection=connection, trigger="manual")  # reconciliation follows sync.completed
    read = status()
    assert read["status"] == "settled" and read["transaction_id"], read
    payment.refresh_from_db()
    debit = payment.transaction
    assert debit.amount == -payment.amount and debit.status == "booked"

    truth = ground_truth(bank, "alice")
    at_bank = [p for p in truth["payments"] if p["end_to_end_id"] == payment.end_to_end_id]
    assert len(at_bank) == 1 and at_bank[0]["amount"] == "12.50"
    debits = [t for a in truth["accounts"] for t in a["transactions"]
              if t["end_to_end_id"] == payment.end_to_end_id and t["status"] == "booked"]  # fmt: skip
    assert len(debits) == 1 and debit.provider_transaction_id == debits[0]["id"]


def test_a_crash_between_the_banks_acceptance_and_our_commit_never_pays_twice(sandbox, celery_worker, alice_at_albion):
    base = sandbox.url
    tpp = create_tpp(base, name="Bill Pay")
    created = _manager(tpp).post(base + "/api/v1/payment-consents", json=_instruction())
    consent = created.json()["data"]
    token = _approve_payment(base, tpp, consent["id"])
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=20)
    body = _payment_body(consent)
    key = str(uuid.uuid4())
    payment_id = api.post("/api/v1/payments", json=body, headers={"Idempotency-Key": key}).json()["data"]["id"]
    # The worker submits it and the bank accepts; then the crash: our commit of the bank's answer is lost.
    _wait(lambda: Payment.objects.get(public_id=payment_id).bank_payment_id != "", what="the worker")
    accepted = Payment.objects.get(public_id=payment_id)
    assert accepted.status == "accepted", (accepted.status, accepted.reason_code, accepted.reason)
    Payment.objects.filter(pk=accepted.pk).update(
        status="pending", bank_status="", bank_payment_id="", created_at=accepted.created_at - dt.timedelta(minutes=5)
    )
    # The TPP retries with the same key: the same payment, nothing new.
    again = api.post("/api/v1/payments", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 200 and again.json()["data"]["id"] == payment_id
    # The periodic check finds the unanswered payment and submits it again with the same bank key.
    assert payments_check_due() >= 1
    healed = Payment.objects.get(pk=accepted.pk)
    assert (healed.status, healed.bank_payment_id) == ("accepted", accepted.bank_payment_id)
    payment = healed
    truth = ground_truth("albion", "alice")
    assert len([p for p in truth["payments"] if p["end_to_end_id"] == payment.end_to_end_id]) == 1
    debits = [t for a in truth["accounts"] for t in a["transactions"] if t["end_to_end_id"] == payment.end_to_end_id]
    assert len(debits) == 1
