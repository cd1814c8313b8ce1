"""Print the sandbox banks' demo clients as JSON: ``[{bank, client_id, client_secret, redirect_uris}, …]``."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from providers.sandbox.oauth.clients import client_sync_demo

__all__ = ["Command"]


class Command(BaseCommand):
    help = "Print the demo OAuth client of each sandbox bank as JSON (loads them first if missing)."

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        rows = [
            {
                "bank": c.bank,
                "client_id": c.client_id,
                "client_secret": c.client_secret,
                "redirect_uris": list(c.redirect_uris),
            }
            for c in client_sync_demo()
        ]
        self.stdout.write(json.dumps(rows, indent=2))
