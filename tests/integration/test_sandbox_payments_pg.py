"""Payments at the sandbox banks over real HTTP on PostgreSQL: the adapters drive albion (OBIE) and rhein (Berlin
Group) through the live server, the user approves at the bank's own pages, and concurrent retries with one
idempotency key — the TPP's situation after a timeout — create one payment and one debit, never two."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from aggregator.management.commands.sandbox_connect import _drive_bank_login
from providers.adapters.berlin_group import BerlinGroupAdapter
from providers.adapters.obie import OBIEAdapter
from providers.base import PaymentInstruction
from providers.http import browser_session
from providers.sandbox import bankdata
from providers.sandbox.models import SandboxPayment

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REDIRECT = "http://127.0.0.1:8000/payments/callback/"


def _config(live_server, bank: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        "base_url": f"{live_server.url}/sandbox/{bank}",
        "client_id": f"aggregator-{bank}",
        "client_secret": f"{bank}-sandbox-secret",
    }


def _approve(url: str, username: str, account_id: str) -> str:
    """The user at the bank's login and approval pages, as ``sandbox_connect`` walks them (a browser without
    JavaScript: forms, cookies, CSRF token); the page preselects the only account the payment can use."""
    session = browser_session()
    try:
        params = _drive_bank_login(session, url, redirect_uri=REDIRECT, username=username, password="sandbox")
    finally:
        session.close()
    assert "code" in params, params
    return params["code"]


def _instruction(bank: str, username: str) -> PaymentInstruction:
    debtor, bob = bankdata.user_accounts(bank, username)[0], bankdata.user_accounts(bank, "bob")[0]
    return PaymentInstruction(
        instruction_id="I-" + uuid.uuid4().hex[:10],
        end_to_end_id="E2E-" + uuid.uuid4().hex[:16],
        amount=Decimal("7.25"),
        currency=debtor.currency,
        creditor_name=bob.holder_name,
        creditor_iban=bob.iban if bank == "rhein" else "",
        creditor_sort_code=bob.sort_code if bank == "albion" else "",
        creditor_account_number=bob.account_number if bank == "albion" else "",
        debtor_iban=debtor.iban if bank == "rhein" else "",
        reference="Integration",
    )


def test_concurrent_retries_of_one_albion_payment_create_one_payment(sandbox):
    instruction = _instruction("albion", "alice")
    adapter = OBIEAdapter(_config(sandbox, "albion"))
    auth = adapter.start_payment_authorization(instruction, idempotency_key="pg-key-1", redirect_uri=REDIRECT)
    account = bankdata.user_accounts("albion", "alice")[0]
    credentials = adapter.complete_payment_authorization(
        code=_approve(auth.url, "alice", account.id), redirect_uri=REDIRECT, auth=auth
    )

    def submit(_: int):  # type: ignore[no-untyped-def]
        return adapter.submit_payment(credentials, instruction, auth=auth, idempotency_key="pg-key-1")

    with ThreadPoolExecutor(max_workers=4) as pool:
        payments = list(pool.map(submit, range(4)))
    assert len({p.bank_payment_id for p in payments}) == 1
    assert (
        SandboxPayment.objects.filter(bank="albion", consent_id=auth.consent_id, submitted_at__isnull=False).count()
        == 1
    )
    debits = [
        t
        for t in bankdata.account_transactions("albion", "alice", account.id)
        if t.end_to_end_id == instruction.end_to_end_id
    ]
    assert len(debits) == 1


def test_concurrent_retries_of_one_rhein_initiation_create_one_payment(sandbox):
    instruction = _instruction("rhein", "alice")
    adapter = BerlinGroupAdapter(_config(sandbox, "rhein"))

    def start(_: int):  # type: ignore[no-untyped-def]
        return adapter.start_payment_authorization(instruction, idempotency_key="pg-key-2", redirect_uri=REDIRECT)

    with ThreadPoolExecutor(max_workers=4) as pool:
        requests = list(pool.map(start, range(4)))
    assert len({r.consent_id for r in requests}) == 1
    assert SandboxPayment.objects.filter(bank="rhein", end_to_end_id=instruction.end_to_end_id).count() == 1
    account = bankdata.user_accounts("rhein", "alice")[0]
    auth = requests[0]
    credentials = adapter.complete_payment_authorization(
        code=_approve(auth.url, "alice", account.id), redirect_uri=REDIRECT, auth=auth
    )
    payment = adapter.submit_payment(credentials, instruction, auth=auth, idempotency_key="pg-key-2")
    assert (payment.status, payment.bank_status) == ("accepted", "ACTC")
