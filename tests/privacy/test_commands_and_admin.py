"""``manage.py user_erase`` (confirmation unless --yes, clear errors) and the admin's export and erase actions."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from aggregator.privacy.erasure import user_is_erased
from aggregator.privacy.models import DataExport
from consent.models import Consent, ConsentEvent
from tests.factories import UserFactory

from .people import person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AGGREGATOR = {**settings.AGGREGATOR, "PRIVACY_EXPORT_DIR": str(tmp_path)}
    monkeypatch.setattr("celery.current_app.send_task", lambda *a, **kw: None)


def test_user_erase_asks_for_the_username_and_erases_when_it_is_typed(monkeypatch):
    wilhelmina = person("Typed")
    monkeypatch.setattr("builtins.input", lambda prompt: "wqtyped")
    out = io.StringIO()

    call_command("user_erase", "wqtyped", stdout=out)

    wilhelmina.user.refresh_from_db()
    assert user_is_erased(user=wilhelmina.user) and "consents revoked: 1" in out.getvalue()


def test_user_erase_does_nothing_when_the_confirmation_is_wrong(monkeypatch):
    wilhelmina = person("Refused")
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")

    with pytest.raises(CommandError, match="Not confirmed"):
        call_command("user_erase", "wqrefused")

    wilhelmina.user.refresh_from_db()
    assert wilhelmina.user.username == "wqrefused" and wilhelmina.consent.status == "authorised"


def test_user_erase_with_yes_does_not_ask(monkeypatch):
    wilhelmina = person("Yes")
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("asked"))

    call_command("user_erase", "w.yes@mail.example", "--yes", stdout=io.StringIO())

    wilhelmina.user.refresh_from_db()
    assert user_is_erased(user=wilhelmina.user)


def test_user_erase_of_an_erased_user_says_so():
    wilhelmina = person("Again")
    call_command("user_erase", "wqagain", "--yes", stdout=io.StringIO())
    wilhelmina.user.refresh_from_db()
    out = io.StringIO()

    call_command("user_erase", wilhelmina.user.username, "--yes", stdout=out)

    assert "already erased" in out.getvalue()


def test_user_erase_names_the_problem_when_two_users_share_an_email():
    UserFactory(username="twin1", email="twin@mail.example")
    UserFactory(username="twin2", email="twin@mail.example")

    with pytest.raises(CommandError, match="More than one user has the email"):
        call_command("user_erase", "twin@mail.example", "--yes")


def _staff(client):  # type: ignore[no-untyped-def]
    staff = UserFactory(username="officer", is_staff=True, is_superuser=True)
    client.force_login(staff)
    return staff


def test_the_admin_export_action_queues_an_export_per_selected_user(client, settings):
    settings.ADMIN_REQUIRE_2FA = False
    _staff(client)
    wilhelmina = person("AdminExport")

    response = client.post(
        f"/{settings.ADMIN_URL}auth/user/",
        {"action": "export_personal_data", "_selected_action": [wilhelmina.user.pk]},
    )

    assert response.status_code == 302
    assert DataExport.objects.get(user=wilhelmina.user).requested_by == "staff"


def test_the_admin_erase_action_asks_first_then_erases_as_staff(client, settings, django_capture_on_commit_callbacks):
    settings.ADMIN_REQUIRE_2FA = False
    staff = _staff(client)
    wilhelmina = person("AdminErase")
    url = f"/{settings.ADMIN_URL}auth/user/"
    chosen = {"action": "erase_personal_data", "_selected_action": [wilhelmina.user.pk]}

    confirm = client.post(url, chosen)
    assert confirm.status_code == 200 and b"Yes, erase" in confirm.content
    assert Consent.objects.get(pk=wilhelmina.consent.pk).status == "authorised"

    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {**chosen, "confirm": "yes"})

    wilhelmina.user.refresh_from_db()
    assert user_is_erased(user=wilhelmina.user)
    assert ConsentEvent.objects.get(consent=wilhelmina.consent, to_status="revoked").actor_user == staff
