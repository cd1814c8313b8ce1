"""Re-encrypt every TPP's webhook secret with the newest key of AGGREGATOR["CREDENTIAL_KEYS"].

Run it together with ``rotate_credential_keys`` (bank credentials) when rotating keys: put the new key FIRST in
CREDENTIAL_KEYS keeping the old ones after it, deploy, run both commands, then drop the old keys.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from consent.tpp import webhook_secrets_rotate_all


class Command(BaseCommand):
    help = "Re-encrypt all stored webhook secrets with the newest CREDENTIAL_KEYS key (MultiFernet.rotate)."

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        count = webhook_secrets_rotate_all()
        self.stdout.write(self.style.SUCCESS(f"re-encrypted the webhook secrets of {count} third-party app(s)"))
