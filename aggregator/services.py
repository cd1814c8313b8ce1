"""Services of the aggregator domain: every write to the normalized model goes through a function here."""

from __future__ import annotations

from django.db import transaction

from providers.sandbox.data.catalog import bank_info  # plain data (fixtures/sandbox), no Django app needed

from .models import Institution

__all__ = ["SANDBOX_INSTITUTIONS", "institution_sync_sandbox"]

# The three mock banks of providers/sandbox and the adapter that speaks each one's dialect. Their names come from
# the sandbox's own definitions (fixtures/sandbox/banks.json), so a bank has one name on its pages and ours.
SANDBOX_INSTITUTIONS: tuple[dict, ...] = (
    {"slug": "albion", "country": "GB", "provider": "obie"},
    {"slug": "rhein", "country": "DE", "provider": "berlin_group"},
    {"slug": "liberty", "country": "US", "provider": "cursor_delta"},
)


@transaction.atomic
def institution_sync_sandbox() -> list[Institution]:
    """Create or update the sandbox institutions (idempotent)."""
    institutions = []
    for spec in SANDBOX_INSTITUTIONS:
        institution, _ = Institution.objects.update_or_create(
            slug=spec["slug"],
            defaults={
                "name": bank_info(spec["slug"])["name"],
                "country": spec["country"],
                "provider": spec["provider"],
                "config": {"sandbox_bank": spec["slug"]},
                "is_active": True,
            },
        )
        institutions.append(institution)
    return institutions
