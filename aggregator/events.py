"""Domain events other parts react to (webhooks to third parties). Call these from services; each one defers
its work to ``transaction.on_commit`` so nothing is announced for a rolled-back change.

Owned by the data-API work (webhooks); the sync engine and consent services call these names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from consent.models import Consent

    from .models import Connection, SyncRun

__all__ = ["connection_reauth_required", "consent_status_changed", "sync_completed"]


def sync_completed(*, sync_run: SyncRun) -> None:
    """A sync finished; third parties with consents over its accounts learn of new/changed transactions."""
    transaction.on_commit(lambda: None)


def connection_reauth_required(*, connection: Connection) -> None:
    transaction.on_commit(lambda: None)


def consent_status_changed(*, consent: Consent, from_status: str) -> None:
    """Revoked / expired consents are announced to the third party that held them."""
    transaction.on_commit(lambda: None)
