"""Re-encrypt every connection's bank credentials with the newest key of AGGREGATOR["CREDENTIAL_KEYS"].

Rotation: generate a key with
``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``,
put it FIRST in CREDENTIAL_KEYS keeping the old ones after it, deploy, run this command and
``rotate_webhook_secret_keys`` (TPP webhook secrets, same keys), then drop the old keys.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from aggregator.connections.credentials import credentials_rotate_all


class Command(BaseCommand):
    help = "Re-encrypt all stored bank credentials with the newest CREDENTIAL_KEYS key (MultiFernet.rotate)."

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        count = credentials_rotate_all()
        self.stdout.write(self.style.SUCCESS(f"re-encrypted credentials of {count} connection(s)"))
