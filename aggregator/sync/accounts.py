"""The connection's accounts as the bank lists them (used by the connect flow and by every sync)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from providers.base import AccountData

from ..models import Account, Connection

__all__ = ["ACCOUNT_FIELDS", "accounts_upsert"]

# Account columns copied from AccountData (provider_account_id is the key).
ACCOUNT_FIELDS: tuple[str, ...] = (
    "display_name",
    "type",
    "subtype",
    "currency",
    "iban",
    "sort_code",
    "account_number",
    "masked_pan",
    "account_number_mask",
    "holder_name",
    "raw",
)


def _account_values(data: AccountData) -> dict:
    values = {name: getattr(data, name) for name in ACCOUNT_FIELDS}
    values["raw"] = dict(data.raw or {})
    values["type"] = data.type if data.type in Account.Type.values else Account.Type.OTHER
    return values


@transaction.atomic
def accounts_upsert(*, connection: Connection, accounts: Sequence[AccountData]) -> list[Account]:
    """Create or update the connection's accounts from the bank's full account list; return them in the given
    order. Accounts the bank no longer lists get ``removed_at`` (their history stays); an account that comes back
    is restored. Unchanged accounts are not written. Idempotent."""
    now = timezone.now()
    wanted: dict[str, AccountData] = {}
    for data in accounts:
        wanted[data.provider_account_id] = data  # a repeated id: the last one wins
    existing = {a.provider_account_id: a for a in Account.objects.select_for_update().filter(connection=connection)}

    to_create: list[Account] = []
    to_update: list[Account] = []
    for provider_id, data in wanted.items():
        values = _account_values(data)
        account = existing.get(provider_id)
        if account is None:
            to_create.append(Account(connection=connection, provider_account_id=provider_id, **values))
            continue
        changed = account.removed_at is not None or any(getattr(account, k) != v for k, v in values.items())
        if changed:
            for k, v in values.items():
                setattr(account, k, v)
            account.removed_at = None
            account.updated_at = now
            to_update.append(account)
    for provider_id, account in existing.items():
        if provider_id not in wanted and account.removed_at is None:
            account.removed_at = now
            account.updated_at = now
            to_update.append(account)

    if to_create:
        Account.objects.bulk_create(to_create)
    if to_update:
        Account.objects.bulk_update(to_update, [*ACCOUNT_FIELDS, "removed_at", "updated_at"])
    by_id = {a.provider_account_id: a for a in existing.values()}
    by_id.update({a.provider_account_id: a for a in to_create})
    return [by_id[provider_id] for provider_id in wanted]
