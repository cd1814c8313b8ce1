"""Input validation (query parameters) and the output shapes of the data API.

Output is built by small functions over ``values()`` rows or model instances rather than ``ModelSerializer``: a
page of 500 transactions is rendered in well under a millisecond. The ``*Serializer`` classes below describe the
same shapes for the OpenAPI document (drf-spectacular) and are checked against real responses by the schema
tests (schemathesis).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rest_framework import serializers

from aggregator.compliance.sca import connection_reauthenticate_by
from aggregator.models import TRANSACTION_DATA_COLUMNS, Account, Balance, SyncRun, Transaction, UnattendedAccess

__all__ = [
    "TRANSACTION_FIELDS",
    "AccountSerializer",
    "BalanceSerializer",
    "DeltaQuerySerializer",
    "ErrorResponseSerializer",
    "SyncRunSerializer",
    "TransactionQuerySerializer",
    "TransactionSerializer",
    "account_data",
    "balance_data",
    "enrichment_data",
    "money",
    "syncrun_data",
    "transaction_data",
    "transaction_query",
    "transaction_values",
]

PAGE_SIZE_DEFAULT = 100
PAGE_SIZE_MAX = 500


def money(value: Decimal | None) -> str | None:
    """``Decimal("-12.3400")`` → ``"-12.34"``: a string, at least two decimals, no trailing zeros beyond them."""
    if value is None:
        return None
    text = format(value, "f")
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    return f"{whole}.{frac.ljust(2, '0')}"


# --- query parameters ------------------------------------------------------------------------------------


class TransactionQuerySerializer(serializers.Serializer):
    booked_from = serializers.DateField(required=False, help_text="Earliest booking date (YYYY-MM-DD), inclusive.")
    booked_to = serializers.DateField(required=False, help_text="Latest booking date (YYYY-MM-DD), inclusive.")
    status = serializers.ChoiceField(choices=Transaction.Status.values, required=False)
    min_amount = serializers.DecimalField(
        max_digits=20, decimal_places=4, required=False, help_text="Signed amount, e.g. -50.00 (inclusive)."
    )
    max_amount = serializers.DecimalField(max_digits=20, decimal_places=4, required=False)
    cursor = serializers.CharField(required=False, max_length=512, help_text="`links.next` of the previous page.")
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=PAGE_SIZE_MAX, default=PAGE_SIZE_DEFAULT
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("booked_from") and attrs.get("booked_to") and attrs["booked_from"] > attrs["booked_to"]:
            raise serializers.ValidationError({"booked_from": ["booked_from must not be after booked_to."]})
        lo, hi = attrs.get("min_amount"), attrs.get("max_amount")
        if lo is not None and hi is not None and lo > hi:
            raise serializers.ValidationError({"min_amount": ["min_amount must not be above max_amount."]})
        return attrs


_PAGE_SIZE_TEXT = re.compile(r"[1-9][0-9]{0,2}\Z")
_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]{1,512}\Z")  # what cursor_encode makes: url-safe base64, no padding


def transaction_query(params: Mapping[str, Any]) -> dict[str, Any]:
    """The validated query of the transaction list. The everyday query of a client paging through — nothing but
    a plain ``page_size`` and/or a ``cursor`` as ``cursor_encode`` makes them — is read directly (the serializer
    costs more than the page's database query); anything else goes through :class:`TransactionQuerySerializer`,
    so every error, and every value, is the serializer's."""
    if params.keys() <= {"page_size", "cursor"}:
        query: dict[str, Any] = {"page_size": PAGE_SIZE_DEFAULT}
        page_size, cursor = params.get("page_size"), params.get("cursor")
        plain = True
        if page_size is not None:
            if _PAGE_SIZE_TEXT.match(page_size) and int(page_size) <= PAGE_SIZE_MAX:
                query["page_size"] = int(page_size)
            else:
                plain = False
        if cursor is not None:
            if _CURSOR_TEXT.match(cursor):
                query["cursor"] = cursor
            else:
                plain = False
        if plain:
            return query
    serializer = TransactionQuerySerializer(data=params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class DeltaQuerySerializer(serializers.Serializer):
    cursor = serializers.CharField(
        required=False, max_length=512, help_text="`next_cursor` of the previous call; omit to start from scratch."
    )
    count = serializers.IntegerField(required=False, min_value=1, max_value=PAGE_SIZE_MAX, default=PAGE_SIZE_DEFAULT)


class RefreshRequestSerializer(serializers.Serializer):
    """The refresh request has no body; an empty JSON object is accepted."""


# --- output ----------------------------------------------------------------------------------------------


class InstitutionRefSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Institution slug")
    name = serializers.CharField()
    country = serializers.CharField()


class AccountSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    display_name = serializers.CharField()
    type = serializers.ChoiceField(choices=Account.Type.values)
    subtype = serializers.CharField()
    currency = serializers.CharField(help_text="ISO 4217")
    iban = serializers.CharField(allow_blank=True)
    sort_code = serializers.CharField(allow_blank=True)
    account_number = serializers.CharField(allow_blank=True)
    masked_pan = serializers.CharField(allow_blank=True)
    masked_identifier = serializers.CharField()
    holder_name = serializers.CharField(allow_blank=True)
    institution = InstitutionRefSerializer()
    reauthenticate_by = serializers.DateTimeField(
        allow_null=True,
        help_text="EU banks: the user must re-authenticate at the bank by this instant (180 days after the last "
        "strong authentication) or the account's data stops being refreshed; null when the bank has no such clock",
    )


def account_data(account: Account) -> dict[str, Any]:
    institution = account.connection.institution
    return {
        "id": account.public_id,
        "display_name": account.display_name,
        "type": account.type,
        "subtype": account.subtype,
        "currency": account.currency,
        "iban": account.iban,
        "sort_code": account.sort_code,
        "account_number": account.account_number,
        "masked_pan": account.masked_pan,
        "masked_identifier": account.masked_identifier,
        "holder_name": account.holder_name,
        "institution": {"id": institution.slug, "name": institution.name, "country": institution.country},
        "reauthenticate_by": connection_reauthenticate_by(account.connection),
    }


class BalanceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=Balance.Type.values)
    amount = serializers.CharField(help_text='Decimal amount as a string, e.g. "-12.34"')
    currency = serializers.CharField()
    as_of = serializers.DateTimeField()
    credit_line_included = serializers.BooleanField()
    credit_limit = serializers.CharField(allow_null=True)


def balance_data(balance: Balance) -> dict[str, Any]:
    return {
        "type": balance.type,
        "amount": money(balance.amount),
        "currency": balance.currency,
        "as_of": balance.as_of,
        "credit_line_included": balance.credit_line_included,
        "credit_limit": money(balance.credit_limit),
    }


class EnrichedCategorySerializer(serializers.Serializer):
    primary = serializers.CharField(help_text="e.g. food_and_drink")
    detailed = serializers.CharField(help_text="e.g. food_and_drink.groceries")
    confidence = serializers.ChoiceField(choices=["very_high", "high", "medium", "low"])
    source = serializers.ChoiceField(choices=["rule", "mcc", "model", "user"])
    taxonomy_version = serializers.CharField()


class CounterpartySerializer(serializers.Serializer):
    id = serializers.CharField(help_text='Stable id, "cp_" + 16 hex digits')
    name = serializers.CharField(allow_null=True, help_text="Null for a person when the consent may not see names")
    type = serializers.ChoiceField(
        choices=["merchant", "person", "employer", "government", "financial_institution", ""]
    )


def enrichment_data(row: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """An ``enrichment_for_transactions`` row → (``enriched_category``, ``counterparty``) of the API."""
    if row is None:
        return None, None
    category = {
        "primary": row["category_primary"],
        "detailed": row["category_detailed"],
        "confidence": row["confidence"],
        "source": row["source"],
        "taxonomy_version": row["taxonomy_version"],
    }
    party = None
    if row["counterparty__public_id"]:
        party = {
            "id": row["counterparty__public_id"],
            "name": row["counterparty__name"],
            "type": row["counterparty__type"],
        }
    return category, party


class TransactionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Transaction.Status.values)
    booking_date = serializers.DateField()
    booked_at = serializers.DateTimeField(allow_null=True)
    value_date = serializers.DateField(allow_null=True)
    amount = serializers.CharField(help_text="Signed decimal string; negative is money out of the account")
    currency = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    merchant_name = serializers.CharField(allow_blank=True)
    category = serializers.CharField(allow_blank=True)
    counterparty_name = serializers.CharField(allow_blank=True)
    bank_transaction_code = serializers.CharField(allow_blank=True)
    pending_transaction_id = serializers.UUIDField(
        allow_null=True, help_text="For a booked transaction that replaced a pending one: the pending one's id"
    )
    payment_id = serializers.UUIDField(
        allow_null=True, help_text="The payment (POST /api/v1/payments) this debit was reconciled with, if any"
    )
    mcc = serializers.CharField(allow_blank=True, help_text="ISO 18245 merchant category code, where the bank sent one")
    enriched_category = EnrichedCategorySerializer(
        allow_null=True, help_text="Our category (see docs/insights.md); null until the transaction is enriched"
    )
    counterparty = CounterpartySerializer(allow_null=True, help_text="The normalised counterparty; null until enriched")


# Columns read for a transaction (``values()``); ``id`` (the keyset tie-breaker) and ``account_id`` never leave.
# ``payment__public_id``: the payment reconciled with the transaction, by a LEFT JOIN on the payment's unique
# ``transaction_id`` (no column on the transactions table).
PAYMENT_ID_FIELD = "payment__public_id"
TRANSACTION_FIELDS: tuple[str, ...] = (
    "id",
    "account_id",
    "public_id",
    *TRANSACTION_DATA_COLUMNS[:-1],  # no raw
    PAYMENT_ID_FIELD,
)


def transaction_values(row: Any, *, payment_id: Any) -> dict[str, Any]:
    """The ``TRANSACTION_FIELDS`` of a ``Transaction`` instance (not a ``values()`` row), with the public id of the
    payment reconciled with it (``selectors.payment_links``) in place of the join."""
    values = {f: getattr(row, f) for f in TRANSACTION_FIELDS if f != PAYMENT_ID_FIELD}
    values[PAYMENT_ID_FIELD] = payment_id
    return values


def transaction_data(
    row: dict[str, Any],
    account_public_id: Any,
    pending_public_id: Any = None,
    enrichment: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``values(*TRANSACTION_FIELDS)`` row → its API shape. ``pending_public_id``: for a booked transaction
    that replaced a pending one, the pending one's public id; ``enrichment``: its insights row, if any."""
    category, party = enrichment_data(enrichment)
    return {
        "id": row["public_id"],
        "account_id": account_public_id,
        "status": row["status"],
        "booking_date": row["booking_date"],
        "booked_at": row["booked_at"],
        "value_date": row["value_date"],
        "amount": money(row["amount"]),
        "currency": row["currency"],
        "description": row["description"],
        "merchant_name": row["merchant_name"],
        "category": row["category"],
        "counterparty_name": row["counterparty_name"],
        "bank_transaction_code": row["bank_transaction_code"],
        "pending_transaction_id": pending_public_id,
        "payment_id": row.get(PAYMENT_ID_FIELD),
        "mcc": row["merchant_category_code"],
        "enriched_category": category,
        "counterparty": party,
    }


class SyncRunSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=SyncRun.Outcome.values)
    trigger = serializers.ChoiceField(choices=SyncRun.Trigger.values)
    institution = serializers.CharField(help_text="Institution slug")
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="added, modified, removed")
    error_code = serializers.CharField(allow_blank=True)
    data_types = serializers.ListField(
        child=serializers.ChoiceField(choices=UnattendedAccess.DataType.values),
        help_text="What the sync reads (a refresh's `data_types`; every one for the others)",
    )
    in_progress = serializers.BooleanField(
        help_text="True while the sync is queued or running, including after an interruption: until it finishes, "
        "the data it brings is partly stored (the delta feed's `meta.sync_in_progress` says the same)."
    )
    interrupted = serializers.BooleanField(
        help_text="True when the sync started and stopped without finishing (its worker died): the counts are "
        "partial and the sync resumes by itself within minutes where it stopped; no row is lost or duplicated."
    )


def syncrun_data(run: SyncRun, institution_slug: str, *, interrupted: bool = False) -> dict[str, Any]:
    """The sync resource; ``interrupted`` is ``aggregator.sync.status.sync_run_interrupted`` (the caller asks)."""
    return {
        "id": run.public_id,
        "state": run.outcome,
        "trigger": run.trigger,
        "institution": institution_slug,
        "queued_at": run.queued_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "counts": {"added": run.added_count, "modified": run.modified_count, "removed": run.removed_count},
        "error_code": run.error_code,
        "data_types": list(run.data_types or UnattendedAccess.DataType.values),
        "in_progress": run.outcome in (SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING),
        "interrupted": interrupted,
    }


# --- envelopes and errors (documentation) -----------------------------------------------------------------


class LinksSerializer(serializers.Serializer):
    self = serializers.URLField()
    next = serializers.URLField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. permission_missing")
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True, help_text="The parameter or body field at fault, if any")


class ErrorResponseSerializer(serializers.Serializer):
    errors = ErrorSerializer(many=True)
    request_id = serializers.CharField()
