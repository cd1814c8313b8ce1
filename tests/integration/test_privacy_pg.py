"""GDPR rights end to end on PostgreSQL with the real worker and the sandbox banks over HTTP.

Alice and Bob connect the same sandbox bank through the real OAuth flow and sync; a TPP with a webhook receiver
holds a consent over Alice's accounts. The worker builds Alice's export: every row about her, none of Bob's.
Then Alice is erased: the TPP receives ``consent.revoked``, the bank-side consent ends, no text or JSON column of
any of our tables holds her name, username, email, account numbers or transaction descriptions (the sandbox
bank's own tables are the bank's, not ours), Bob's data is untouched, and the evidence is kept as docs/privacy.md
says (consent events, ledger leaves without her salt, an erasure record under her pseudonym).
"""

from __future__ import annotations

import json
import time
import zipfile

import pytest

from aggregator.ledger.models import LedgerLeaf, LedgerSalt
from aggregator.models import Account, Transaction
from aggregator.privacy.erasure import user_erase
from aggregator.privacy.export import data_export_path, data_export_request
from aggregator.privacy.models import DataExport, ErasureRecord
from aggregator.privacy.pseudonym import pseudonym
from consent.models import Consent, ConsentEvent
from consent.services import consent_authorise
from providers.sandbox.models import SandboxConsent
from tests.factories import AccessLogEntryFactory, ApplicationFactory, ConsentFactory
from tests.privacy.trace import traces_of

from .sync_helpers import connect, sync_until_done

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _wait(predicate, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def _quiet(user) -> None:  # type: ignore[no-untyped-def]
    """Wait until the worker's follow-up work on the user's sync (enrichment) has settled."""
    last, stable_since = None, time.monotonic()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = Transaction.objects.filter(account__connection__user=user, enrichment__isnull=False).count()
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since > 3:
            return
        time.sleep(0.3)


def _people(sandbox, webhook_url):  # type: ignore[no-untyped-def]
    alice_connection = connect("albion", "alice")
    bob_connection = connect("albion", "bob")
    for connection in (alice_connection, bob_connection):
        sync_until_done(connection)
    alice, bob = alice_connection.user, bob_connection.user
    alice.first_name, alice.last_name, alice.email = "Alice", "Quennell-Abernathy", "alice.q@mail.example"
    alice.save()
    app = ApplicationFactory(name="Budget Buddy", webhook_url=webhook_url)
    consent = consent_authorise(
        consent=ConsentFactory(application=app), user=alice, accounts=list(alice_connection.accounts.all())
    )
    AccessLogEntryFactory.create_batch(3, consent=consent)
    bob_consent = consent_authorise(
        consent=ConsentFactory(application=app), user=bob, accounts=list(bob_connection.accounts.all())
    )
    _quiet(alice)
    _quiet(bob)
    return alice, bob, consent, bob_consent


def _needles(alice, bob) -> list[str]:  # type: ignore[no-untyped-def]
    """What names Alice: unless Bob's own data carries the same text (a shop they both use)."""
    mine = Transaction.objects.filter(account__connection__user=alice)
    accounts = Account.objects.filter(connection__user=alice)
    wanted = {alice.username, alice.email, alice.last_name}
    wanted |= set(accounts.exclude(iban="").values_list("iban", flat=True))
    wanted |= set(accounts.exclude(account_number="").values_list("account_number", flat=True))
    wanted |= set(accounts.exclude(holder_name="").values_list("holder_name", flat=True))
    wanted |= set(mine.exclude(description="").values_list("description", flat=True))
    theirs = Transaction.objects.filter(account__connection__user=bob)
    shared = set(theirs.values_list("description", flat=True)) | set(theirs.values_list("counterparty_name", flat=True))
    shared |= set(theirs.values_list("merchant_name", flat=True))
    return sorted(n for n in wanted if n and not any(n.lower() in s.lower() for s in shared if s))


def test_export_then_erasure_of_a_real_user(sandbox, celery_worker, webhooks):
    webhook_url, received = webhooks
    alice, bob, consent, bob_consent = _people(sandbox, webhook_url)

    # --- export, built by the worker ---
    export = data_export_request(user=alice, requested_by="user")
    _wait(lambda: DataExport.objects.get(pk=export.pk).status in ("done", "failed"), "the export", timeout=120)
    export.refresh_from_db()
    assert (export.status, export.percent) == ("done", 100), export.error
    with zipfile.ZipFile(data_export_path(export)) as zf:
        exported = {t["id"] for t in json.loads(zf.read("transactions.json"))}
        accounts = {a["id"] for a in json.loads(zf.read("accounts.json"))}
        consents = {c["id"] for c in json.loads(zf.read("consents.json"))}
        manifest = json.loads(zf.read("manifest.json"))
        csv_rows = zf.read("transactions.csv").decode().count("\n") - 1
    mine = Transaction.objects.filter(account__connection__user=alice)
    assert exported == {str(p) for p in mine.values_list("public_id", flat=True)} and exported
    assert not exported & {
        str(p) for p in Transaction.objects.filter(account__connection__user=bob).values_list("public_id", flat=True)
    }
    assert accounts == {
        str(p) for p in Account.objects.filter(connection__user=alice).values_list("public_id", flat=True)
    }
    assert consents == {str(consent.pk)}
    assert manifest["files"]["transactions.json"] == len(exported) and manifest["files"]["access_log.json"] == 3
    assert csv_rows >= len(exported)  # descriptions may hold line breaks inside quotes, never fewer rows

    # --- erasure ---
    needles = _needles(alice, bob)
    assert len(needles) > 5 and traces_of(needles)
    bob_transactions = Transaction.objects.filter(account__connection__user=bob).count()

    result = user_erase(user=alice, requested_by="cli")

    assert set(result.banks.values()) == {"revoked"}
    assert SandboxConsent.objects.filter(bank="albion", status="Revoked").count() == 1
    _wait(
        lambda: any(h["type"] == "consent.revoked" and h["data"]["consent_id"] == str(consent.pk) for h in received),
        "the TPP's consent.revoked webhook",
    )
    _quiet(alice)
    assert traces_of(needles) == []
    assert not DataExport.objects.filter(pk=export.pk).exists() and not data_export_path(export).exists()

    # Bob is untouched.
    assert Transaction.objects.filter(account__connection__user=bob).count() == bob_transactions
    assert Consent.objects.get(pk=bob_consent.pk).status == "authorised"

    # The evidence, as documented: consent events kept, ledger leaves kept without her salt, an erasure record.
    assert list(ConsentEvent.objects.filter(consent=consent).values_list("to_status", flat=True)) == [
        "authorised",
        "revoked",
    ]
    _wait(lambda: LedgerLeaf.objects.filter(subject_id=str(consent.pk)).count() >= 2, "the ledger leaves")
    assert not LedgerSalt.objects.filter(subject=f"user:{alice.pk}").exists()
    assert ErasureRecord.objects.filter(subject=pseudonym(user_id=alice.pk)).exists()
