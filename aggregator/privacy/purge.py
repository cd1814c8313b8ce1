"""The deleting half of erasure: every row about a person that the law does not make us keep (docs/privacy.md).

Called by ``erasure.user_erase`` inside its transaction, after the consents were revoked and the banks
disconnected. Returns the number of rows deleted (or scrubbed) per kind.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import SESSION_KEY
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db.models import Q
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from aggregator.connections.models import PendingAuthorization
from aggregator.insights.models import CategoryCorrection, Counterparty, RecurringStream, TransactionEnrichment
from aggregator.models import Account, Balance, Connection, SyncRun, Transaction, UnattendedAccess
from aggregator.payments.models import PaymentConsent
from consent.models import (
    AccessLogEntry,
    AccessToken,
    ClockWarning,
    Consent,
    DeviceGrant,
    Grant,
    IDToken,
    RefreshToken,
)

from .export import data_export_delete
from .models import DataExport

__all__ = ["user_data_purge"]


def _deleted(queryset: Any) -> int:
    _, per_model = queryset.delete()
    return int(per_model.get(queryset.model._meta.label, 0))


def _orphaned_counterparties(ids: set[int]) -> Any:
    """Of ``ids``, the counterparties no other enrichment, correction or stream refers to any more."""
    used = (
        set(TransactionEnrichment.objects.filter(counterparty_id__in=ids).values_list("counterparty_id", flat=True))
        | set(CategoryCorrection.objects.filter(counterparty_id__in=ids).values_list("counterparty_id", flat=True))
        | set(RecurringStream.objects.filter(counterparty_id__in=ids).values_list("counterparty_id", flat=True))
    )
    return Counterparty.objects.filter(pk__in=ids - used)


def _sessions_end(*, user: Any) -> int:
    """Sign the person out everywhere (database sessions; other engines lose them when the password hash changes)."""
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return 0
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=500):
        if session.get_decoded().get(SESSION_KEY) == str(user.pk):
            session.delete()
            ended += 1
    return ended


def user_data_purge(*, user: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    mine = Q(account__connection__user=user)
    # Counterparties named only by this person's data (derived from their transactions) go with it.
    counterparty_ids = set(
        TransactionEnrichment.objects.filter(transaction__account__connection__user=user)
        .exclude(counterparty_id=None)
        .values_list("counterparty_id", flat=True)
    ) | set(CategoryCorrection.objects.filter(user=user).values_list("counterparty_id", flat=True))

    # OAuth tokens, codes and the access log (their consents are kept, revoked).
    counts["access_log"] = _deleted(AccessLogEntry.objects.filter(consent__user=user))
    counts["refresh_tokens"] = _deleted(RefreshToken.objects.filter(Q(user=user) | Q(consent__user=user)))
    counts["access_tokens"] = _deleted(AccessToken.objects.filter(Q(user=user) | Q(consent__user=user)))
    counts["grants"] = _deleted(Grant.objects.filter(Q(user=user) | Q(consent__user=user)))
    counts["id_tokens"] = _deleted(IDToken.objects.filter(user=user))
    counts["device_grants"] = _deleted(DeviceGrant.objects.filter(user=user))
    counts["totp_devices"] = _deleted(TOTPDevice.objects.filter(user=user))
    counts["sessions"] = _sessions_end(user=user)
    counts["pending_authorizations"] = _deleted(PendingAuthorization.objects.filter(user=user))
    counts["category_corrections"] = _deleted(CategoryCorrection.objects.filter(user=user))

    # Reminders sent ahead of their compliance deadlines: about this person's consents and connections only.
    subject_ids = [str(pk) for pk in Consent.objects.filter(user=user).values_list("pk", flat=True)]
    subject_ids += [str(pk) for pk in Connection.objects.filter(user=user).values_list("public_id", flat=True)]
    counts["clock_warnings"] = _deleted(ClockWarning.objects.filter(subject_id__in=subject_ids))

    exports = list(DataExport.objects.filter(user=user))
    for export in exports:
        data_export_delete(export=export)
    counts["exports"] = len(exports)

    # Banking data. Transactions first (enrichments and risk signals go with them; a payment keeps its row).
    counts["transactions"] = _deleted(Transaction.objects.filter(mine))
    counts["balances"] = _deleted(Balance.objects.filter(mine))
    counts["sync_runs"] = _deleted(SyncRun.objects.filter(connection__user=user))
    # An account a kept payment was made from stays as an empty shell (the payment record needs its debtor).
    kept_accounts = set(
        PaymentConsent.objects.filter(debtor_account__connection__user=user).values_list("debtor_account_id", flat=True)
    )
    counts["accounts"] = _deleted(Account.objects.filter(connection__user=user).exclude(pk__in=kept_accounts))
    # provider_account_id is unique per connection: each shell keeps a distinct, meaningless one.
    for account in Account.objects.filter(pk__in=kept_accounts):
        Account.objects.filter(pk=account.pk).update(
            provider_account_id=f"erased-{account.public_id}",
            display_name="",
            subtype="",
            iban="",
            sort_code="",
            account_number="",
            masked_pan="",
            account_number_mask="",
            holder_name="",
            raw={},
        )
    counts["accounts_scrubbed"] = len(kept_accounts)
    counts["unattended_accesses"] = _deleted(UnattendedAccess.objects.filter(account_id__in=kept_accounts))
    counts["connections"] = _deleted(Connection.objects.filter(user=user).exclude(accounts__pk__in=kept_accounts))
    counts["connections_scrubbed"] = Connection.objects.filter(user=user).update(
        encrypted_credentials="",
        upstream_consent_id="",
        sync_cursor="",
        sync_state={},
        last_error="",
        credentials_expire_at=None,
        next_sync_at=None,
        status=Connection.Status.DISCONNECTED,
    )
    counts["counterparties"] = _deleted(_orphaned_counterparties(counterparty_ids))

    # Payment records are kept (AML record keeping); what only served the bank redirect goes.
    counts["payment_consents_scrubbed"] = PaymentConsent.objects.filter(Q(user=user) | Q(consent__user=user)).update(
        bank_state="", bank_redirect_uri="", encrypted_authorization="", encrypted_credentials=""
    )

    # The admin's history of the user row names them (object_repr).
    user_type = ContentType.objects.get_for_model(type(user))
    counts["admin_log"] = _deleted(LogEntry.objects.filter(content_type=user_type, object_id=str(user.pk)))
    return counts
