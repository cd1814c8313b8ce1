"""Load the sandbox banks' demo OAuth clients from ``fixtures/sandbox/clients.json`` (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from providers.sandbox.oauth.clients import client_sync_demo

__all__ = ["Command"]


class Command(BaseCommand):
    help = "Create or update the sandbox banks' demo OAuth clients from fixtures/sandbox/clients.json. Safe to re-run."

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        clients = client_sync_demo()
        self.stdout.write(f"sandbox demo clients: {', '.join(f'{c.bank}:{c.client_id}' for c in clients)}")
