"""Entry points of the sync engine.

* ``accounts_upsert`` — write the accounts an adapter listed (used by the connect flow and by every sync).
* ``sync_request`` — create a queued ``SyncRun`` and enqueue the Celery task once the transaction commits.
* ``connection_sync`` — run one sync now (what the task calls); see ``aggregator.sync.engine`` for the steps.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from providers.base import AccountData

from ..models import Account, Connection, SyncRun

__all__ = ["ATTENDED_TRIGGERS", "accounts_upsert", "connection_sync", "sync_request"]

# Account columns copied from AccountData (provider_account_id is the key).
_ACCOUNT_FIELDS: tuple[str, ...] = (
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
    values = {name: getattr(data, name) for name in _ACCOUNT_FIELDS}
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
        Account.objects.bulk_update(to_update, [*_ACCOUNT_FIELDS, "removed_at", "updated_at"])
    by_id = {a.provider_account_id: a for a in existing.values()}
    by_id.update({a.provider_account_id: a for a in to_create})
    return [by_id[provider_id] for provider_id in wanted]


# Triggers a present user can cause (and so may carry the user's IP address); never scheduled or third-party ones.
ATTENDED_TRIGGERS = frozenset({SyncRun.Trigger.CONNECT, SyncRun.Trigger.MANUAL})


def _check_psu_ip(trigger: str, psu_ip_address: str) -> None:
    if psu_ip_address and trigger not in ATTENDED_TRIGGERS:
        raise ValueError(f"a {trigger} sync is unattended: it cannot carry the user's IP address")


def sync_request(*, connection: Connection, trigger: str, countdown: float = 0, psu_ip_address: str = "") -> SyncRun:
    """Queue a sync of ``connection``: a ``SyncRun`` in state ``queued`` now, the Celery task once the current
    transaction commits (so the worker always finds the row). ``countdown`` delays the task (dispatcher jitter).

    ``psu_ip_address``: the IP address of the user who asked for this sync *in person* (the connect flow, a
    "sync now" button) — the adapters tell the bank the user is present (Berlin Group ``PSU-IP-Address``), so the
    sync is not an unattended access and does not use the bank's daily allowance. Only ``connect``/``manual``
    triggers may carry one; a scheduled or third-party sync never does."""
    if trigger not in SyncRun.Trigger.values:
        raise ValueError(f"unknown sync trigger {trigger!r}; expected one of {', '.join(SyncRun.Trigger.values)}")
    _check_psu_ip(trigger, psu_ip_address)
    sync_run = SyncRun.objects.create(connection=connection, trigger=trigger, outcome=SyncRun.Outcome.QUEUED)

    def enqueue() -> None:
        from ..tasks import enqueue_connection_sync  # tasks import services; services enqueue lazily

        attended = {"psu_ip_address": psu_ip_address} if psu_ip_address else {}
        enqueue_connection_sync(sync_run_id=sync_run.pk, countdown=countdown, **attended)

    transaction.on_commit(enqueue)
    return sync_run


def connection_sync(
    *,
    connection: Connection,
    trigger: str = SyncRun.Trigger.MANUAL,
    sync_run: SyncRun | None = None,
    psu_ip_address: str = "",
) -> SyncRun:
    """Run one sync of ``connection`` now and return its finished ``SyncRun``.

    Steps: take the connection's sync lock (a concurrent sync → outcome ``skipped``) → refresh the credentials
    if they expire soon (rotated ones are stored, encrypted, at once) → accounts → balances → transactions
    (window dialects: from the last booking date seen minus ``SYNC_OVERLAP_DAYS``, widened to cover every live
    pending row; first sync: the full history the bank allows; cursor dialects: from the stored cursor, saved
    in the same database transaction as the page's rows) → upsert (one transaction per page) → reconcile
    (pending rows that posted under a new id or vanished from the window get ``removed_at``) → record counts and
    outcome → events on commit.

    A retry on the same ``sync_run`` resumes where it stopped (``aggregator.sync.progress``). ``psu_ip_address``:
    the user is present (see ``sync_request``).

    Errors: ``TransientProviderError`` / ``RateLimitedError`` are recorded and re-raised for the task to retry;
    ``ReauthRequiredError`` pauses the connection (``reauth_required``, no next sync) and announces it;
    ``PermanentProviderError`` sets the connection to ``error`` and is recorded. Whatever happens, every page
    that was committed is exact, so a retry or a second run converges on the same rows.
    """
    from .engine import run_sync

    _check_psu_ip(sync_run.trigger if sync_run is not None else trigger, psu_ip_address)
    if sync_run is None:
        sync_run = SyncRun.objects.create(connection=connection, trigger=trigger, outcome=SyncRun.Outcome.QUEUED)
    return run_sync(connection=connection, sync_run=sync_run, psu_ip_address=psu_ip_address)
