"""What an export archive holds: one section per file, each a lazy stream of JSON-ready rows.

Rows are read with ``iterator(chunk_size=…)`` so a user with a million transactions is never in memory at once.
Credentials, tokens and secrets are never exported (``Connection.encrypted_credentials``, the payment
authorisation, OAuth tokens): only the facts about them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aggregator.insights.models import CategoryCorrection, RecurringStream, RiskSignal, TransactionEnrichment
from aggregator.ledger.models import LedgerSalt
from aggregator.models import TRANSACTION_DATA_COLUMNS, Balance, SyncRun, Transaction
from aggregator.payments.models import Payment, PaymentEvent
from consent.models import ConsentEvent

from .selectors import (
    user_access_log,
    user_accounts,
    user_connections,
    user_ledger_leaves,
    user_payment_consents,
    user_webhook_events,
)

__all__ = ["CHUNK", "SECTIONS", "TRANSACTION_CSV_COLUMNS", "Section", "transaction_rows"]

CHUNK = 2000

Row = dict[str, Any]


@dataclass(frozen=True)
class Section:
    file: str  # the JSON file of the archive
    rows: Callable[[Any], Iterator[Row]]  # user → rows


def _profile(user: Any) -> Iterator[Row]:
    yield {
        "username": user.get_username(),
        "email": getattr(user, "email", ""),
        "first_name": getattr(user, "first_name", ""),
        "last_name": getattr(user, "last_name", ""),
        "date_joined": getattr(user, "date_joined", None),
        "last_login": user.last_login,
        "is_active": user.is_active,
    }


def _consents(user: Any) -> Iterator[Row]:
    consents = user.consents.select_related("application").prefetch_related("accounts").order_by("created_at")
    for c in consents.iterator(chunk_size=200):
        events = ConsentEvent.objects.filter(consent=c).order_by("at", "id")
        yield {
            "id": c.pk,
            "app": {"name": c.application.name, "client_id": c.application.client_id},
            "status": c.status,
            "permissions": c.permissions,
            "accounts": [a.public_id for a in c.accounts.all()],
            "created_at": c.created_at,
            "authorised_at": c.authorised_at,
            "expires_at": c.expires_at,
            "status_changed_at": c.status_changed_at,
            "last_accessed_at": c.last_accessed_at,
            "transactions_from": c.transactions_from,
            "transactions_to": c.transactions_to,
            "events": [
                {
                    "at": e.at,
                    "kind": e.kind,
                    "actor": e.actor_type,
                    "from_status": e.from_status,
                    "to_status": e.to_status,
                    "reason": e.reason,
                    "ledger_leaf_index": e.ledger_leaf_index,
                }
                for e in events
            ],
        }


def _connections(user: Any) -> Iterator[Row]:
    for c in user_connections(user=user).iterator(chunk_size=CHUNK):
        yield {
            "id": c.public_id,
            "institution": c.institution.name,
            "status": c.status,
            "bank_consent_id": c.upstream_consent_id,
            "bank_consent_expires_at": c.upstream_consent_expires_at,
            "has_credentials": bool(c.encrypted_credentials),  # the credentials themselves never leave
            "credentials_expire_at": c.credentials_expire_at,
            "last_synced_at": c.last_synced_at,
            "last_error": c.last_error,
            "created_at": c.created_at,
        }


def _accounts(user: Any) -> Iterator[Row]:
    for a in user_accounts(user=user).iterator(chunk_size=CHUNK):
        yield {
            "id": a.public_id,
            "connection": a.connection.public_id,
            "institution": a.connection.institution.name,
            **{
                f: getattr(a, f)
                for f in ("display_name", "type", "subtype", "currency", "iban", "sort_code", "account_number")
            },
            **{f: getattr(a, f) for f in ("masked_pan", "account_number_mask", "holder_name", "removed_at", "raw")},
        }


def _balances(user: Any) -> Iterator[Row]:
    rows = Balance.objects.filter(account__connection__user=user).select_related("account").order_by("id")
    for b in rows.iterator(chunk_size=CHUNK):
        yield {
            "account": b.account.public_id,
            "type": b.type,
            "amount": b.amount,
            "currency": b.currency,
            "as_of": b.as_of,
            "credit_line_included": b.credit_line_included,
            "credit_limit": b.credit_limit,
        }


TRANSACTION_CSV_COLUMNS = ("id", "account", *TRANSACTION_DATA_COLUMNS[:-1], "removed_at")


def transaction_rows(user: Any, *, with_raw: bool = True) -> Iterator[Row]:
    columns = ["public_id", "account__public_id", *TRANSACTION_DATA_COLUMNS[:-1], "removed_at"]
    if with_raw:
        columns.append("raw")
    rows = Transaction.objects.filter(account__connection__user=user).order_by("id").values(*columns)
    for r in rows.iterator(chunk_size=CHUNK):
        r["id"] = r.pop("public_id")
        r["account"] = r.pop("account__public_id")
        yield r


def _sync_runs(user: Any) -> Iterator[Row]:
    rows = SyncRun.objects.filter(connection__user=user).select_related("connection").order_by("id")
    for s in rows.iterator(chunk_size=CHUNK):
        yield {
            "id": s.public_id,
            "connection": s.connection.public_id,
            "trigger": s.trigger,
            "outcome": s.outcome,
            "queued_at": s.queued_at,
            "finished_at": s.finished_at,
            "added": s.added_count,
            "modified": s.modified_count,
            "removed": s.removed_count,
            "error_code": s.error_code,
        }


def _access_log(user: Any) -> Iterator[Row]:
    for e in user_access_log(user=user).order_by("at", "id").iterator(chunk_size=CHUNK):
        yield {
            "at": e.at,
            "app": e.application.name,
            "client_id": e.application.client_id,
            "consent": e.consent_id,
            "method": e.method,
            "endpoint": e.endpoint,
            "status_code": e.status_code,
        }


def _webhooks(user: Any) -> Iterator[Row]:
    for w in user_webhook_events(user=user).iterator(chunk_size=200):
        yield {
            "id": w.id,
            "app": w.application.name,
            "type": w.type,
            "payload": w.payload,
            "created_at": w.created_at,
            "deliveries": [
                {"status": d.status, "attempts": d.attempts, "delivered_at": d.delivered_at} for d in w.deliveries.all()
            ],
        }


def _payments(user: Any) -> Iterator[Row]:
    for pc in user_payment_consents(user=user).iterator(chunk_size=200):
        payment = Payment.objects.filter(consent=pc).first()
        yield {
            "payment_consent": pc.public_id,
            "client_id": pc.client_id,
            "status": pc.status,
            **{f: getattr(pc, f) for f in ("amount", "currency", "creditor_name", "creditor_iban")},
            **{f: getattr(pc, f) for f in ("creditor_sort_code", "creditor_account_number", "reference")},
            "debtor_account": pc.debtor_account.public_id if pc.debtor_account else None,
            "created_at": pc.created_at,
            "authorised_at": pc.authorised_at,
            "payment": None
            if payment is None
            else {
                "id": payment.public_id,
                "status": payment.status,
                "bank_status": payment.bank_status,
                "amount": payment.amount,
                "currency": payment.currency,
                "submitted_at": payment.submitted_at,
                "end_to_end_id": payment.end_to_end_id,
                "reason": payment.reason,
            },
            "events": list(
                PaymentEvent.objects.filter(consent=pc)
                .order_by("at", "id")
                .values("at", "kind", "from_status", "to_status", "bank_status", "detail")
            ),
        }


def _insights(user: Any) -> Iterator[Row]:
    enrichments = TransactionEnrichment.objects.filter(transaction__account__connection__user=user).order_by("pk")
    for e in enrichments.values(
        "transaction__public_id", "category_primary", "category_detailed", "confidence", "source", "counterparty__name"
    ).iterator(chunk_size=CHUNK):
        yield {"kind": "label", **e}
    for c in CategoryCorrection.objects.filter(user=user).select_related("counterparty").order_by("id"):
        yield {
            "kind": "correction",
            "counterparty": c.counterparty.name,
            "category_detailed": c.category_detailed,
            "created_at": c.created_at,
        }
    for s in RecurringStream.objects.filter(account__connection__user=user).order_by("id").iterator(chunk_size=CHUNK):
        yield {
            "kind": "recurring_stream",
            "id": s.public_id,
            "description": s.description,
            "frequency": s.frequency,
            "average_amount": s.average_amount,
            "currency": s.currency,
            "status": s.status,
        }
    for r in RiskSignal.objects.filter(account__connection__user=user).order_by("id").iterator(chunk_size=CHUNK):
        yield {
            "kind": "risk_signal",
            "id": r.public_id,
            "signal": r.kind,
            "score": r.score,
            "reason": r.reason,
            "detected_at": r.detected_at,
        }


def _ledger(user: Any) -> Iterator[Row]:
    salt = LedgerSalt.objects.filter(subject=f"user:{user.pk}").values_list("salt", flat=True).first()
    # The salt lets the person (and only whoever holds it) prove that a leaf's commitments are about them.
    yield {"kind": "salt", "subject": f"user:{user.pk}", "salt": bytes(salt).hex() if salt else None}
    for leaf in user_ledger_leaves(user=user).iterator(chunk_size=CHUNK):
        yield {
            "kind": "leaf",
            "index": leaf.index,
            "event_id": leaf.event_id,
            "event": leaf.name,
            "subject": f"{leaf.subject_type}:{leaf.subject_id}",
            "leaf_hash": bytes(leaf.leaf_hash).hex(),
            "leaf": bytes(leaf.leaf).decode(),
            "appended_at": leaf.appended_at,
        }


SECTIONS: tuple[Section, ...] = (
    Section("profile.json", _profile),
    Section("consents.json", _consents),
    Section("connections.json", _connections),
    Section("accounts.json", _accounts),
    Section("balances.json", _balances),
    Section("transactions.json", transaction_rows),
    Section("sync_runs.json", _sync_runs),
    Section("access_log.json", _access_log),
    Section("webhooks.json", _webhooks),
    Section("payments.json", _payments),
    Section("insights.json", _insights),
    Section("ledger.json", _ledger),
)
