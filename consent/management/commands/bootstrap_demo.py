"""Idempotent local bootstrap: the sandbox institutions and a local admin user.

Run by ``make run`` after ``migrate``. It lives in the consent app because it creates demo users (consent's
business) besides the institutions (the data domain, which consent may use). Refuses to create the well-known
``admin``/``admin`` login outside local runs (``DJANGO_ENV=local``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from aggregator.services import institution_sync_sandbox
from consent.demo import demo_users_ensure


class Command(BaseCommand):
    help = "Create the sandbox institutions and, in local runs, an admin/admin superuser. Safe to re-run."

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        if settings.SANDBOX_ENABLED:
            institutions = institution_sync_sandbox()
            self.stdout.write(f"sandbox institutions: {', '.join(i.slug for i in institutions)}")
            call_command("sandbox_bootstrap", stdout=self.stdout)
        if settings.DJANGO_ENV == "local":
            user_model = get_user_model()
            if not user_model.objects.filter(username="admin").exists():
                user_model.objects.create_superuser("admin", "admin@example.invalid", "admin")
                self.stdout.write("created superuser admin (password admin) for local use")
            for name in demo_users_ensure():
                self.stdout.write(f"created demo user {name} (password {name}-demo)")
