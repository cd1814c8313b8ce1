"""The admin's sign-in (aggregator/config/admin_site.py): the same lockout as the people's login, a TOTP second
factor for staff when ADMIN_REQUIRE_2FA is on, an enrolment command with a QR code, and a configurable URL."""

from __future__ import annotations

import importlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import clear_url_caches, reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from consent import login_guard
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fast_hasher(settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_local_counters():  # type: ignore[no-untyped-def]
    login_guard._local.clear()
    yield
    login_guard._local.clear()


@pytest.fixture
def staff():  # type: ignore[no-untyped-def]
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def two_factor(settings):  # type: ignore[no-untyped-def]
    settings.ADMIN_REQUIRE_2FA = True


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def _admin_login(client, username, password, **fields):  # type: ignore[no-untyped-def]
    data = {"username": username, "password": password, "next": "/admin/", **fields}
    return client.post("/admin/login/", data, REMOTE_ADDR="192.0.2.10")


def test_thirty_wrong_admin_passwords_lock_that_username_out(client, staff):
    """Issue 17 defect 6: 30 wrong passwords, then the right one, were all accepted."""
    statuses = [_admin_login(client, "root", f"wrong-{n}").status_code for n in range(30)]
    assert statuses[:5] == [200] * 5 and 429 in statuses
    response = _admin_login(client, "root", PASSWORD)
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert client.get("/admin/").status_code == 302  # not signed in


def test_the_admin_signs_in_with_a_password_when_no_second_factor_is_required(client, staff):
    assert _admin_login(client, "root", PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_admin_login_page_carries_the_challenge(client):
    page = client.get("/admin/login/").content.decode()
    assert 'name="challenge"' in page and "consent/login-challenge.js" in page and 'name="otp_token"' not in page


def test_with_two_factor_a_password_alone_does_not_open_the_admin(client, staff, two_factor):
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    page = client.get("/admin/login/").content.decode()
    assert 'name="otp_token"' in page
    response = _admin_login(client, "root", PASSWORD)
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_with_two_factor_the_right_code_opens_the_admin(client, staff, two_factor):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    assert _admin_login(client, "root", PASSWORD, otp_token=_code(device)).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_with_two_factor_wrong_codes_count_as_failed_sign_ins(client, staff, two_factor, settings):
    settings.CONSENT = {**settings.CONSENT, "LOGIN_MAX_FAILURES": 3}
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    for _ in range(3):
        _admin_login(client, "root", PASSWORD, otp_token="000000")
    assert _admin_login(client, "root", PASSWORD, otp_token=_code(device)).status_code == 429


def test_with_two_factor_a_staff_session_from_the_people_login_is_not_enough(client, staff, two_factor):
    assert client.post("/accounts/login/", {"username": "root", "password": PASSWORD}).status_code == 302
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_enrol_command_prints_a_qr_code_and_the_device_works(client, staff, two_factor, tmp_path):
    out = StringIO()
    call_command("admin_totp_enrol", "root", "--name", "phone", "--svg", str(tmp_path / "qr.svg"), stdout=out)
    text = out.getvalue()
    assert "otpauth://totp/" in text and "█" in text
    assert (tmp_path / "qr.svg").read_text().startswith("<?xml")
    device = TOTPDevice.objects.get(user=staff)
    assert _admin_login(client, "root", PASSWORD, otp_token=_code(device)).status_code == 302


def test_the_enrol_command_refuses_people_who_are_not_staff():
    UserFactory(username="alice")
    with pytest.raises(CommandError, match="not staff"):
        call_command("admin_totp_enrol", "alice", stdout=StringIO())


@pytest.fixture
def moved_admin(settings):  # type: ignore[no-untyped-def]
    from aggregator.config import urls

    settings.ADMIN_URL = "back-office-7f3/"
    importlib.reload(urls)
    clear_url_caches()
    yield
    settings.ADMIN_URL = "admin/"
    importlib.reload(urls)
    clear_url_caches()


def test_the_admin_url_is_configurable(client, staff, moved_admin):
    assert reverse("admin:index") == "/back-office-7f3/"
    assert client.get("/admin/login/").status_code == 404
    page = client.get("/back-office-7f3/login/")
    assert page.status_code == 200 and 'action="/back-office-7f3/login/' in page.content.decode()
