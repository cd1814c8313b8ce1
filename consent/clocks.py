"""The consent's compliance clocks, read side and the rules set at authorisation (docs/compliance.md).

* UK (FCA SCA-RTS Art. 10A, 36(6)): a consent sharing an account at a UK bank must be reconfirmed by its user
  every 90 days, counted from the authorisation, then from each reconfirmation, on the compliance clock
  (``aggregator.compliance.clock``). ``reconfirm_by`` is stored on the consent; from that instant (90 days fully
  passed: day 89 is allowed, day 90 is not) the data API answers ``403 reconfirmation_required``
  (``consent.api_auth``) and connections that serve only such consents get no unattended sync (a gate registered
  with ``aggregator.compliance.sca``). The bank-side consent is untouched. The reconfirmation itself is
  ``consent.reconfirmation.consents_reconfirm``.
* EU (PSD2 RTS Art. 10a): a consent's ``reauthenticate_by`` is the earliest SCA deadline of the connections
  behind its accounts (``aggregator.compliance.sca``).
* US (12 CFR 1033.421(b)(2)): an authorisation lasts at most one year: ``expires_at`` is capped at the
  authorisation + 365 days when a shared account is at a US bank; its revocation deletes the data obtained under
  it that no other live consent needs (1033.421(h)): :func:`consent_revocation_data_delete`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from aggregator.compliance.clock import compliance_now
from aggregator.compliance.regimes import Regime, regime_for_institution
from aggregator.compliance.sca import connection_reauthenticate_by
from aggregator.models import Account, Balance, Connection, Transaction

from .models import Consent

__all__ = [
    "connections_serving_only_unconfirmed_consents",
    "consent_clocks_start",
    "consent_list_reconfirmable",
    "consent_reauthenticate_by",
    "consent_reauthentication",
    "consent_reconfirmation_lapsed",
    "consent_regimes",
    "consent_revocation_data_delete",
    "reconfirm_days_for",
]


def consent_regimes(*, accounts: Iterable[Account]) -> list[Regime]:
    """The regimes of the banks behind ``accounts`` (each once)."""
    seen: dict[str, Regime] = {}
    for account in accounts:
        regime = regime_for_institution(account.connection.institution)
        seen.setdefault(regime.code, regime)
    return list(seen.values())


def reconfirm_days_for(*, accounts: Iterable[Account]) -> int | None:
    """The shortest reconfirmation period of the regimes of ``accounts``, or ``None`` (no such clock)."""
    days = [r.reconfirm_days for r in consent_regimes(accounts=accounts) if r.reconfirm_days is not None]
    return min(days) if days else None


def consent_clocks_start(*, consent: Consent, accounts: Iterable[Account]) -> list[str]:
    """Set the clocks of a consent the user has just authorised (or authorised again) over ``accounts``: the UK
    reconfirmation deadline and the US one-year cap of ``expires_at``. Returns the changed fields (the caller saves
    them in its transaction)."""
    if consent.payment_consent_id is not None:
        return []  # a payment consent reads its one payment for PAYMENT_ACCESS_DAYS: no data-access clock
    accounts = list(accounts)
    regimes = consent_regimes(accounts=accounts)
    changed = []
    reconfirm = [r.reconfirm_days for r in regimes if r.reconfirm_days is not None]
    consent.reconfirm_by = compliance_now() + timedelta(days=min(reconfirm)) if reconfirm else None
    changed.append("reconfirm_by")
    caps = [r.authorisation_max_days for r in regimes if r.authorisation_max_days is not None]
    if caps:
        # Measured from the authorisation on the clock ``expires_at`` runs on (the consent's own expiry machinery).
        authorised = consent.authorised_at or compliance_now()
        cap = authorised + timedelta(days=min(caps))
        if consent.expires_at > cap:
            consent.expires_at = cap
            changed.append("expires_at")
    return changed


def consent_reconfirmation_lapsed(*, consent: Consent, now: datetime | None = None) -> bool:
    """A UK consent whose 90 days have fully passed without a reconfirmation (``now >= reconfirm_by``)."""
    if consent.reconfirm_by is None:
        return False
    return (now or compliance_now()) >= consent.reconfirm_by


def consent_reauthentication(*, consent: Consent) -> tuple[datetime, Connection] | None:
    """The earliest SCA deadline of the bank connections behind the consent's accounts (EU) and that connection,
    or ``None``."""
    if consent.status != Consent.Status.AUTHORISED:
        return None
    connections = Connection.objects.filter(
        accounts__consents=consent, last_sca_at__isnull=False, user_id=consent.user_id
    ).select_related("institution")
    deadlines = [(d, c) for c in connections.distinct() if (d := connection_reauthenticate_by(c)) is not None]
    return min(deadlines, key=lambda pair: pair[0]) if deadlines else None


def consent_reauthenticate_by(*, consent: Consent) -> datetime | None:
    """When the user must re-authenticate at the first bank behind the consent (EU), or ``None``."""
    found = consent_reauthentication(consent=consent)
    return found[0] if found else None


def connections_serving_only_unconfirmed_consents(connections: Sequence[Connection], now: datetime) -> dict[int, str]:
    """The UK gate of unattended syncs: a connection whose every live consent awaits reconfirmation is not synced
    unattended (nobody may read what it would fetch). A connection serving no consent is left alone. One query for
    all of ``connections`` (none when no bank among them has a reconfirmation clock)."""
    clocked = [c.pk for c in connections if regime_for_institution(c.institution).reconfirm_days is not None]
    if not clocked:
        return {}
    # Through the consent-account link table: each row names one connection and one live consent's deadline.
    links = Consent.accounts.through.objects.filter(
        account__connection__in=clocked,
        consent__status=Consent.Status.AUTHORISED,
        consent__expires_at__gt=timezone.now(),
    ).values_list("account__connection_id", "consent__reconfirm_by")
    readable: dict[int, bool] = {}  # connection pk → some live consent of it is still confirmed
    for connection_id, reconfirm_by in links:
        confirmed = reconfirm_by is None or reconfirm_by > now
        readable[connection_id] = readable.get(connection_id, False) or confirmed
    return {pk: "reconfirmation_required" for pk, ok in readable.items() if not ok}


def consent_revocation_data_delete(*, consent: Consent) -> int:
    """A revoked consent over accounts at US banks: delete the balances and transactions of those accounts that
    no other live consent shares (12 CFR 1033.421(h)). The account rows stay (what was shared under which
    consent is evidence, kept per 1033.441); a later sync for a new consent fetches the data again. Returns the
    number of deleted rows. Runs inside ``consent_revoke``'s transaction."""
    accounts = [
        a
        for a in Account.objects.filter(consents=consent).select_related("connection__institution")
        if regime_for_institution(a.connection.institution).authorisation_max_days is not None
    ]
    if not accounts:
        return 0
    still_needed = set(
        Account.objects.filter(
            pk__in=[a.pk for a in accounts],
            consents__status=Consent.Status.AUTHORISED,
            consents__expires_at__gt=timezone.now(),
        ).values_list("pk", flat=True)
    )
    orphaned = [a.pk for a in accounts if a.pk not in still_needed]
    if not orphaned:
        return 0
    deleted, _ = Transaction.objects.filter(account_id__in=orphaned).delete()
    balances, _ = Balance.objects.filter(account_id__in=orphaned).delete()
    return deleted + balances


def consent_list_reconfirmable(*, user: Any) -> QuerySet[Consent]:
    """The user's consents in force that have a reconfirmation clock, soonest deadline first (the
    reconfirmation page), with app and accounts prefetched."""
    return (
        Consent.objects.filter(
            user=user, status=Consent.Status.AUTHORISED, expires_at__gt=timezone.now(), reconfirm_by__isnull=False
        )
        .select_related("application")
        .prefetch_related("accounts", "accounts__connection__institution")
        .order_by("reconfirm_by", "pk")
    )
