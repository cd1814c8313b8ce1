"""The sandbox banks' OAuth clients (services)."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.db import transaction

from ..models import SandboxClient
from .server import BANK_OAUTH

__all__ = ["DEMO_CLIENTS_FILE", "client_sync_demo", "demo_clients"]

DEMO_CLIENTS_FILE = Path(settings.BASE_DIR) / "fixtures" / "sandbox" / "clients.json"


def demo_clients() -> list[dict]:
    return json.loads(DEMO_CLIENTS_FILE.read_text())


@transaction.atomic
def client_sync_demo() -> list[SandboxClient]:
    """Create or update every demo client of ``fixtures/sandbox/clients.json``; returns them in file order."""
    result = []
    for row in demo_clients():
        bank = row["bank"]
        if bank not in BANK_OAUTH:
            raise ValueError(f"clients.json: unknown sandbox bank {bank!r}")
        grant_types = [
            g for g in row.get("grant_types", BANK_OAUTH[bank]["grant_types"]) if g in BANK_OAUTH[bank]["grant_types"]
        ]
        client, _ = SandboxClient.objects.update_or_create(
            bank=bank,
            client_id=row["client_id"],
            defaults={
                "client_secret": row["client_secret"],
                "name": row.get("name", ""),
                "redirect_uris": list(row["redirect_uris"]),
                "grant_types": grant_types,
                "scope": row.get("scope", "accounts"),
                "require_pkce": bool(row.get("require_pkce", BANK_OAUTH[bank]["pkce_required"])),
            },
        )
        result.append(client)
    return result
