from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from consent.models import AccessToken, Consent, ConsentEvent, Grant, RefreshToken
from consent.services import (
    ConsentStateError,
    consent_authorise,
    consent_create,
    consent_expire,
    consent_reject,
    consent_revoke,
    consents_expire_due,
)
from tests.factories import AccountFactory, ApplicationFactory, ConsentFactory

pytestmark = pytest.mark.django_db


def _in(days: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def _authorised(alice, alice_accounts):  # type: ignore[no-untyped-def]
    consent = ConsentFactory()
    return consent_authorise(consent=consent, user=alice, accounts=alice_accounts[:1])


def _tokens_for(consent):  # type: ignore[no-untyped-def]
    access = AccessToken.objects.create(
        application=consent.application, user=consent.user, consent=consent, token="at-" + str(consent.pk),
        expires=_in(1), scope="accounts",
    )  # fmt: skip
    refresh = RefreshToken.objects.create(
        application=consent.application, user=consent.user, consent=consent, token="rt-" + str(consent.pk),
        access_token=access,
    )  # fmt: skip
    return access, refresh


def test_consent_create_records_an_awaiting_consent_and_its_first_event():
    consent = consent_create(
        application=ApplicationFactory(), permissions=["transactions", "accounts"], expires_at=_in(5)
    )
    assert consent.status == Consent.Status.AWAITING_AUTHORISATION
    assert consent.permissions == ["accounts", "transactions"]
    event = consent.events.get()
    assert (event.actor_type, event.from_status, event.to_status) == ("tpp", "", "awaiting_authorisation")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"permissions": ["accounts", "payments"]}, "permissions"),
        ({"permissions": []}, "permissions"),
        ({"expires_at": _in(-1)}, "expires_at"),
        ({"expires_at": _in(91)}, "expires_at"),
        ({"transactions_from": _in(-1), "transactions_to": _in(-2)}, "transactions_from"),
    ],
)
def test_consent_create_rejects_invalid_requests(kwargs, field):  # type: ignore[no-untyped-def]
    args = {"application": ApplicationFactory(), "permissions": ["accounts"], "expires_at": _in(5), **kwargs}
    with pytest.raises(ValidationError) as excinfo:
        consent_create(**args)
    assert field in excinfo.value.error_dict
    assert not Consent.objects.exists()


def test_consent_authorise_shares_exactly_the_chosen_accounts(alice, alice_accounts):
    consent = _authorised(alice, alice_accounts)
    consent.refresh_from_db()
    assert consent.status == "authorised" and consent.user == alice and consent.authorised_at
    assert list(consent.accounts.all()) == alice_accounts[:1]
    last = consent.events.last()
    assert (last.actor_type, last.actor_user, last.from_status, last.to_status) == (
        "user", alice, "awaiting_authorisation", "authorised",
    )  # fmt: skip


def test_consent_authorise_refuses_someone_elses_account(alice, alice_accounts):
    consent = ConsentFactory()
    with pytest.raises(ValidationError):
        consent_authorise(consent=consent, user=alice, accounts=[alice_accounts[0], AccountFactory()])
    consent.refresh_from_db()
    assert consent.status == "awaiting_authorisation" and not consent.accounts.exists()


def test_consent_authorise_refuses_an_account_on_a_reauth_connection(alice, alice_accounts):
    alice_accounts[0].connection.status = "reauth_required"
    alice_accounts[0].connection.save()
    with pytest.raises(ValidationError):
        consent_authorise(consent=ConsentFactory(), user=alice, accounts=alice_accounts[:1])


def test_consent_authorise_needs_at_least_one_account(alice):
    with pytest.raises(ValidationError):
        consent_authorise(consent=ConsentFactory(), user=alice, accounts=[])


def test_consent_authorise_twice_is_refused(alice, alice_accounts):
    consent = _authorised(alice, alice_accounts)
    with pytest.raises(ConsentStateError):
        consent_authorise(consent=consent, user=alice, accounts=alice_accounts)


def test_consent_authorise_refuses_a_request_past_the_authorisation_window(alice, alice_accounts):
    consent = ConsentFactory()
    Consent.objects.filter(pk=consent.pk).update(created_at=timezone.now() - dt.timedelta(hours=1))
    consent.refresh_from_db()
    with pytest.raises(ConsentStateError):
        consent_authorise(consent=consent, user=alice, accounts=alice_accounts)


def test_consent_reject_records_the_user(alice):
    consent = consent_reject(consent=ConsentFactory(), user=alice, reason="no thanks")
    assert consent.status == "rejected"
    assert consent.events.last().reason == "no thanks"
    with pytest.raises(ConsentStateError):
        consent_reject(consent=consent, user=alice)


@pytest.mark.parametrize("actor", ["user", "tpp", "staff"])
def test_consent_revoke_ends_every_token_at_once(alice, alice_accounts, actor, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    consent = _authorised(alice, alice_accounts)
    access, refresh = _tokens_for(consent)
    Grant.objects.create(
        application=consent.application, user=alice, consent=consent, code="c1", expires=_in(1),
        redirect_uri="http://tpp.example/callback", scope="accounts", code_challenge="x", code_challenge_method="S256",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        consent_revoke(consent=consent, actor_type=actor, actor_user=alice if actor != "tpp" else None, reason="r")
    access.refresh_from_db()
    refresh.refresh_from_db()
    assert access.is_expired() and refresh.revoked is not None
    assert not Grant.objects.filter(consent=consent).exists()
    event = consent.events.last()
    assert (event.actor_type, event.from_status, event.to_status, event.reason) == (actor, "authorised", "revoked", "r")


def test_consent_revoke_of_an_ended_consent_is_refused(alice, alice_accounts):
    consent = _authorised(alice, alice_accounts)
    consent_revoke(consent=consent, actor_type="user", actor_user=alice)
    with pytest.raises(ConsentStateError):
        consent_revoke(consent=consent, actor_type="user", actor_user=alice)
    assert consent.events.filter(to_status="revoked").count() == 1


def test_a_user_cannot_revoke_a_request_they_never_answered():
    with pytest.raises(ConsentStateError):
        consent_revoke(consent=ConsentFactory(), actor_type="user")


def test_the_tpp_may_withdraw_an_unanswered_request():
    consent = consent_revoke(consent=ConsentFactory(), actor_type="tpp", reason="withdrawn")
    assert consent.status == "revoked"


def test_consent_expire_is_done_by_the_system_and_ends_tokens(alice, alice_accounts):
    consent = _authorised(alice, alice_accounts)
    access, _ = _tokens_for(consent)
    consent_expire(consent=consent)
    access.refresh_from_db()
    assert consent.status == "expired" and access.is_expired()
    assert consent.events.last().actor_type == "system"


def test_consents_expire_due_expires_only_what_is_due_and_is_idempotent(alice, alice_accounts):
    due = _authorised(alice, alice_accounts)
    Consent.objects.filter(pk=due.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    stale = ConsentFactory()
    Consent.objects.filter(pk=stale.pk).update(created_at=timezone.now() - dt.timedelta(minutes=31))
    fresh = ConsentFactory()
    live = _authorised(alice, alice_accounts)
    assert consents_expire_due() == 2
    assert consents_expire_due() == 0
    statuses = dict(Consent.objects.values_list("pk", "status"))
    assert statuses[due.pk] == statuses[stale.pk] == "expired"
    assert statuses[fresh.pk] == "awaiting_authorisation" and statuses[live.pk] == "authorised"


def test_the_expiry_task_calls_the_service(alice, alice_accounts):
    from consent.tasks import consents_expire_due_task

    due = _authorised(alice, alice_accounts)
    Consent.objects.filter(pk=due.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert consents_expire_due_task.apply().get() == 1


def test_the_expiry_task_is_scheduled_by_a_migration():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="expire due consents")
    assert task.task == "consent.tasks.consents_expire_due_task" and task.enabled
    assert (task.interval.every, task.interval.period) == (5, "minutes")


def test_consent_events_are_immutable(alice, alice_accounts):
    event = _authorised(alice, alice_accounts).events.last()
    event.reason = "rewritten"
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()
    assert ConsentEvent.objects.filter(reason="rewritten").count() == 0


def test_revocation_announces_the_status_change(alice, alice_accounts, published_events):  # type: ignore[no-untyped-def]
    consent = _authorised(alice, alice_accounts)
    published_events.clear()
    consent_revoke(consent=consent, actor_type="user", actor_user=alice)
    calls = [
        (e.data["to_status"], e.data["from_status"]) for e in published_events if e.name == "consent.status_changed"
    ]
    assert calls == [("revoked", "authorised")]


def test_the_cleanup_task_deletes_expired_codes_and_tokens_and_keeps_live_ones(alice, alice_accounts):
    from consent.tasks import oauth_clear_expired_task

    consent = _authorised(alice, alice_accounts)
    live_access, live_refresh = _tokens_for(consent)

    def grant(code: str, expires: dt.datetime) -> Grant:
        return Grant.objects.create(
            application=consent.application, user=alice, consent=consent, code=code, expires=expires,
            redirect_uri="http://tpp.example/callback", scope="accounts",
        )  # fmt: skip

    grant("expired-unexchanged", _in(-1))
    fresh = grant("fresh", _in(1))
    expired_access = AccessToken.objects.create(
        application=consent.application, user=alice, consent=consent, token="at-old", expires=_in(-1), scope="accounts"
    )
    oauth_clear_expired_task.apply().get()
    assert list(Grant.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not AccessToken.objects.filter(pk=expired_access.pk).exists()
    assert AccessToken.objects.filter(pk=live_access.pk).exists()
    assert RefreshToken.objects.filter(pk=live_refresh.pk).exists()


def test_the_oauth_cleanup_is_scheduled_by_a_migration():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="clear expired OAuth codes and tokens")
    assert task.task == "consent.tasks.oauth_clear_expired_task" and task.enabled
    assert (task.interval.every, task.interval.period) == (1, "hours")
