"""Erasure (GDPR Art. 17): consents revoked and TPPs told, banks disconnected, personal data gone from every table,
evidence kept pseudonymised (docs/privacy.md)."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.utils.timezone import now

from aggregator.ledger.models import LedgerSalt
from aggregator.ledger.services import ledger_append_pending
from aggregator.models import Account, Connection, Transaction, UnattendedAccess
from aggregator.payments.models import Payment, PaymentConsent
from aggregator.privacy.erasure import ERASURE_REASON, user_erase, user_is_erased
from aggregator.privacy.models import ErasureRecord
from aggregator.privacy.pseudonym import pseudonym
from aggregator.webhooks.models import WebhookEvent
from consent.models import AccessLogEntry, AccessToken, ClockWarning, Consent, ConsentEvent

from .people import person
from .trace import traces_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_hashing(settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _erase(p, capture):  # type: ignore[no-untyped-def]
    with capture(execute=True):
        return user_erase(user=p.user, requested_by="cli")


def test_after_erasure_no_table_holds_the_persons_name_email_account_numbers_or_descriptions(
    django_capture_on_commit_callbacks,
):
    wilhelmina = person("Erased")
    assert traces_of(wilhelmina.needles)  # the search finds them before

    _erase(wilhelmina, django_capture_on_commit_callbacks)

    assert traces_of(wilhelmina.needles) == []


def test_erasure_leaves_the_other_users_data_alone(django_capture_on_commit_callbacks):
    wilhelmina, other = person("Gone"), person("Stays")

    _erase(wilhelmina, django_capture_on_commit_callbacks)

    still_found = {trace.split(" ∋ ")[1] for trace in traces_of(other.needles)}
    assert still_found == set(other.needles)
    assert Transaction.objects.filter(account__connection__user=other.user).count() == 6
    assert other.user.consents.get().status == Consent.Status.AUTHORISED


def test_erasure_revokes_every_consent_with_the_erasure_as_the_reason(django_capture_on_commit_callbacks):
    wilhelmina = person("Revoked")

    result = _erase(wilhelmina, django_capture_on_commit_callbacks)

    consent = Consent.objects.get(pk=wilhelmina.consent.pk)
    assert consent.status == Consent.Status.REVOKED and result.consents_revoked == 1
    assert consent.events.filter(to_status="revoked", actor_type="staff", reason=ERASURE_REASON).exists()


def test_the_tpp_gets_a_consent_revoked_webhook(django_capture_on_commit_callbacks):
    wilhelmina = person("Notified")

    _erase(wilhelmina, django_capture_on_commit_callbacks)

    event = WebhookEvent.objects.get(type="consent.revoked")
    assert event.payload["consent_id"] == str(wilhelmina.consent.pk)
    assert event.deliveries.get().url == "https://tpp.example/hook"


def test_the_bank_connection_is_disconnected_and_deleted_unless_a_payment_record_needs_its_account(
    django_capture_on_commit_callbacks,
):
    wilhelmina = person("Banked")
    paid_from = wilhelmina.accounts[0]

    result = _erase(wilhelmina, django_capture_on_commit_callbacks)

    assert list(result.banks.values()) == ["failed"]  # the factory's bank has no credentials to revoke with
    shell = Account.objects.get(pk=paid_from.pk)
    assert (shell.iban, shell.account_number, shell.holder_name, shell.raw) == ("", "", "", {})
    assert not Account.objects.filter(pk=wilhelmina.accounts[1].pk).exists()
    connection = Connection.objects.get(pk=paid_from.connection_id)
    assert connection.status == "disconnected" and connection.encrypted_credentials == ""


def test_payment_records_are_kept_with_the_bank_redirect_data_wiped(django_capture_on_commit_callbacks):
    wilhelmina = person("Payer")

    _erase(wilhelmina, django_capture_on_commit_callbacks)

    payment_consent = PaymentConsent.objects.get(user=wilhelmina.user)
    assert payment_consent.bank_state == "" and payment_consent.creditor_name == "Acme Ltd"
    assert Payment.objects.filter(consent=payment_consent, status="settled").exists()


def test_consent_events_are_kept_and_point_at_the_pseudonymous_user(django_capture_on_commit_callbacks):
    wilhelmina = person("Evidence")
    before = ConsentEvent.objects.filter(consent=wilhelmina.consent).count()

    _erase(wilhelmina, django_capture_on_commit_callbacks)

    wilhelmina.user.refresh_from_db()
    assert ConsentEvent.objects.filter(consent=wilhelmina.consent).count() == before + 1
    assert wilhelmina.user.username == "erased-" + pseudonym(user_id=wilhelmina.user.pk)
    assert not wilhelmina.user.is_active and not wilhelmina.user.has_usable_password()


def test_the_ledger_salt_of_the_person_is_erased_after_their_events_are_sealed(django_capture_on_commit_callbacks):
    wilhelmina = person("Ledger")
    ledger_append_pending()
    assert LedgerSalt.objects.filter(subject=f"user:{wilhelmina.user.pk}").exists()

    _erase(wilhelmina, django_capture_on_commit_callbacks)

    assert not LedgerSalt.objects.filter(subject=f"user:{wilhelmina.user.pk}").exists()
    ledger_append_pending()  # nothing about them was left to seal with a new salt
    assert not LedgerSalt.objects.filter(subject=f"user:{wilhelmina.user.pk}").exists()


def test_tokens_and_the_access_log_are_deleted(django_capture_on_commit_callbacks):
    wilhelmina = person("Tokens")

    _erase(wilhelmina, django_capture_on_commit_callbacks)

    assert not AccessToken.objects.filter(consent=wilhelmina.consent).exists()
    assert not AccessLogEntry.objects.filter(consent=wilhelmina.consent).exists()


def test_an_erasure_record_names_the_person_only_by_the_keyed_hash(django_capture_on_commit_callbacks):
    wilhelmina = person("Record")

    _erase(wilhelmina, django_capture_on_commit_callbacks)

    record = ErasureRecord.objects.get()
    assert record.subject == pseudonym(user_id=wilhelmina.user.pk)
    assert record.counts["transactions"] == 6 and record.counts["consents_revoked"] == 1


def test_erasing_twice_changes_nothing_the_second_time(django_capture_on_commit_callbacks):
    wilhelmina = person("Twice")
    _erase(wilhelmina, django_capture_on_commit_callbacks)
    wilhelmina.user.refresh_from_db()

    again = _erase(wilhelmina, django_capture_on_commit_callbacks)

    assert again.already_erased and user_is_erased(user=wilhelmina.user)
    assert ErasureRecord.objects.count() == 1


def test_the_pseudonym_depends_on_the_key(settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "PRIVACY_PSEUDONYM_KEY": "one"}
    first = pseudonym(user_id=7)
    settings.AGGREGATOR = {**settings.AGGREGATOR, "PRIVACY_PSEUDONYM_KEY": "two"}
    assert pseudonym(user_id=7) != first


def test_the_person_is_signed_out_everywhere(client, django_capture_on_commit_callbacks):
    wilhelmina = person("Session")
    client.force_login(wilhelmina.user)
    assert client.get("/me/privacy/").status_code == 200

    _erase(wilhelmina, django_capture_on_commit_callbacks)

    assert client.get("/me/privacy/").status_code == 302
    assert not any(s.get_decoded().get("_auth_user_id") == str(wilhelmina.user.pk) for s in Session.objects.all())


def test_erasure_deletes_the_reminders_sent_about_the_persons_consents_and_connections_only(
    django_capture_on_commit_callbacks,
):
    wilhelmina, other = person("Reminded"), person("AlsoReminded")
    for p in (wilhelmina, other):
        connection = Connection.objects.filter(user=p.user).first()
        for kind, subject in (
            (ClockWarning.Kind.RECONFIRMATION_DUE, str(p.consent.pk)),
            (ClockWarning.Kind.REAUTH_DUE, str(connection.public_id)),
        ):
            ClockWarning.objects.create(kind=kind, subject_id=subject, due_at=now(), stage="T-3", sent_at=now())

    _erase(wilhelmina, django_capture_on_commit_callbacks)

    assert set(ClockWarning.objects.values_list("subject_id", flat=True)) == {
        str(other.consent.pk),
        str(Connection.objects.get(user=other.user).public_id),
    }


def test_the_times_an_account_kept_for_a_payment_record_was_read_unattended_are_deleted(
    django_capture_on_commit_callbacks,
):
    wilhelmina = person("ReadOften")
    paid_from = wilhelmina.accounts[0]
    UnattendedAccess.objects.create(account=paid_from, data_type="balances", accessed_at=now())

    _erase(wilhelmina, django_capture_on_commit_callbacks)

    assert Account.objects.filter(pk=paid_from.pk).exists()  # the payment record's shell
    assert not UnattendedAccess.objects.filter(account=paid_from).exists()
