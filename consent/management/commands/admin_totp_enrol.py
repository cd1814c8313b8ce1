"""Enrol a TOTP authenticator for a staff member (the admin's second factor, ADMIN_REQUIRE_2FA).

    manage.py admin_totp_enrol alice [--name phone] [--svg alice-totp.svg] [--replace]

Prints the ``otpauth://`` URL and its QR code (scan it with an authenticator app); ``--svg`` also writes the QR
code to a file. The secret is shown this once; the admin never shows it again (staff who are already verified
can add devices on the admin's TOTP device page, which shows a QR code too).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import qrcode
import qrcode.image.svg
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Create a TOTP device for a staff user and print its QR code (the admin's second factor)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="authenticator", help="A label for the device (default: authenticator)")
        parser.add_argument("--svg", type=Path, help="Also write the QR code to this SVG file")
        parser.add_argument("--replace", action="store_true", help="Delete the user's other TOTP devices first")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        if not user.is_staff:
            raise CommandError(f"{user.get_username()} is not staff: only staff use the admin.")
        if options["replace"]:
            TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name=options["name"], confirmed=True)
        url = device.config_url
        code = qrcode.QRCode(border=2)
        code.add_data(url)
        code.make(fit=True)
        ascii_art = io.StringIO()
        code.print_ascii(out=ascii_art, invert=True)
        self.stdout.write(ascii_art.getvalue())
        self.stdout.write(f"otpauth URL: {url}")
        if options["svg"]:
            qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage).save(str(options["svg"]))
            self.stdout.write(f"QR code written to {options['svg']}")
        self.stdout.write(
            self.style.SUCCESS(f"TOTP device {device.name!r} enrolled for {user.get_username()}: scan the QR code now.")
        )
