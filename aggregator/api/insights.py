"""The insights API: one transaction with its enrichment (and the user's category correction), recurring
streams, income and risk signals — all under the consent (its accounts and transaction date range).

Permissions: a transaction and ``/recurring`` need ``transactions``; ``/income`` and ``/risk-signals`` need
``insights``. Silent parties: a person's name (the other side of a transfer) is shown only to a consent that may
read transactions, where it is already in ``counterparty_name``; otherwise ``counterparty.name`` is null.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from aggregator.exceptions import NotFoundError
from aggregator.insights.models import RecurringStream, RiskSignal
from aggregator.insights.selectors import (
    enrichment_for_transactions,
    income_summary,
    risk_signal_list,
    stream_list,
)
from aggregator.insights.services import insights_category_correct, insights_today
from aggregator.models import Transaction
from consent.models import Consent
from consent.selectors import consent_accounts

from . import selectors
from .base import COMMON_ERRORS, ConsentAPIView, envelope_schema, errors_schema, parse_uuid, path_id
from .serializers import (
    CounterpartySerializer,
    TransactionSerializer,
    money,
    transaction_data,
    transaction_values,
)

__all__ = ["IncomeView", "RecurringListView", "RiskSignalListView", "TransactionDetailView"]


def _person_names_visible(consent: Consent) -> bool:
    return "transactions" in (consent.permissions or [])


def _counterparty(cp: Any, consent: Consent) -> dict[str, Any] | None:
    if cp is None:
        return None
    hidden = cp.type == "person" and not _person_names_visible(consent)
    return {"id": cp.public_id, "name": None if hidden else cp.name, "type": cp.type}


def _category(detailed: str) -> dict[str, str]:
    return {"primary": detailed.partition(".")[0], "detailed": detailed}


def _transaction_for_consent(consent: Consent, transaction_id: str) -> Transaction:
    """One transaction of the consent's accounts, inside its date range; NotFoundError otherwise."""
    key = parse_uuid(transaction_id)
    start, end = selectors.transaction_date_range_for_consent(consent=consent)
    qs = Transaction.objects.filter(
        public_id=key, removed_at__isnull=True, account__in=consent_accounts(consent=consent).order_by().values("pk")
    ).select_related("account")
    if start:
        qs = qs.filter(booking_date__gte=start)
    if end:
        qs = qs.filter(booking_date__lte=end)
    found = qs.first()
    if found is None:
        raise NotFoundError("No such transaction in this consent.")
    return found


def _transaction_body(tx: Transaction) -> dict[str, Any]:
    values = transaction_values(tx, payment_id=selectors.payment_links({tx.pk}).get(tx.pk))
    pending = selectors.pending_links(
        {(tx.account_id, tx.pending_transaction_id)} if tx.pending_transaction_id else set()
    )
    enriched = enrichment_for_transactions([tx.pk])
    return transaction_data(
        values, tx.account.public_id, pending.get((tx.account_id, tx.pending_transaction_id)), enriched.get(tx.pk)
    )


class CategoryCorrectionSerializer(serializers.Serializer):
    category = serializers.CharField(
        max_length=128,
        help_text="A detailed category of the taxonomy, e.g. `food_and_drink.groceries` (see docs/insights.md). "
        "It becomes the category of every transaction with this counterparty in the user's accounts.",
    )


TRANSACTION_ID = path_id("transaction_id", "transaction")


class TransactionDetailView(ConsentAPIView):
    """One transaction of the consent with its enrichment; PATCH corrects its category (permission
    ``transactions``)."""

    required_permission = "transactions"

    @extend_schema(
        operation_id="transactions_retrieve",
        parameters=[TRANSACTION_ID],
        summary="One transaction, with its category and counterparty",
        auth=[{"oauth2": ["transactions"]}],
        responses={200: envelope_schema("TransactionDetail", TransactionSerializer()), **errors_schema(*COMMON_ERRORS)},
        tags=["transactions"],
    )
    def get(self, request: Request, transaction_id: str) -> Response:
        tx = _transaction_for_consent(request.consent, transaction_id)
        return Response(self.envelope(request, _transaction_body(tx)))

    @extend_schema(
        operation_id="transactions_partial_update",
        parameters=[TRANSACTION_ID],
        summary="Correct a transaction's category",
        description=(
            "Stores the category for this transaction's counterparty, for this user: every transaction with that "
            "counterparty in the user's accounts gets it (`source: user`, `confidence: very_high`), now and after "
            "later syncs, and the next training of the model learns from it. 400 `category_unknown` for a "
            "category outside the taxonomy; 400 `category_not_correctable` for a transaction without a "
            "counterparty (a cash withdrawal)."
        ),
        request=CategoryCorrectionSerializer,
        auth=[{"oauth2": ["transactions"]}],
        responses={
            200: envelope_schema("TransactionCorrected", TransactionSerializer()),
            **errors_schema(400, *COMMON_ERRORS, 415),
        },
        tags=["transactions"],
    )
    def patch(self, request: Request, transaction_id: str) -> Response:
        tx = _transaction_for_consent(request.consent, transaction_id)
        body = CategoryCorrectionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        insights_category_correct(
            transaction_obj=tx, category_detailed=body.validated_data["category"], user_id=request.consent.user_id
        )
        return Response(self.envelope(request, _transaction_body(tx)))


class StreamCategorySerializer(serializers.Serializer):
    primary = serializers.CharField()
    detailed = serializers.CharField()


class RecurringStreamSerializer(serializers.Serializer):
    stream_id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    direction = serializers.ChoiceField(choices=RecurringStream.Direction.values)
    counterparty = CounterpartySerializer(allow_null=True)
    description = serializers.CharField(allow_blank=True)
    category = StreamCategorySerializer()
    frequency = serializers.ChoiceField(choices=RecurringStream.Frequency.choices)
    average_amount = serializers.CharField(help_text="Signed decimal string")
    last_amount = serializers.CharField(help_text="Signed decimal string")
    currency = serializers.CharField()
    first_date = serializers.DateField()
    last_date = serializers.DateField()
    predicted_next_date = serializers.DateField()
    is_active = serializers.BooleanField()
    status = serializers.ChoiceField(choices=RecurringStream.Status.values)
    transaction_ids = serializers.ListField(child=serializers.UUIDField())


def stream_data(s: RecurringStream, consent: Consent) -> dict[str, Any]:
    return {
        "stream_id": s.public_id,
        "account_id": s.account.public_id,
        "direction": s.direction,
        "counterparty": _counterparty(s.counterparty, consent),
        "description": s.description,
        "category": _category(s.category_detailed),
        "frequency": s.frequency,
        "average_amount": money(s.average_amount),
        "last_amount": money(s.last_amount),
        "currency": s.currency,
        "first_date": s.first_date,
        "last_date": s.last_date,
        "predicted_next_date": s.predicted_next_date,
        "is_active": s.is_active,
        "status": s.status,
        "transaction_ids": s.transaction_ids,
    }


class RecurringListView(ConsentAPIView):
    """Recurring inflow and outflow streams of the consent's accounts (permission ``transactions``)."""

    required_permission = "transactions"

    @extend_schema(
        operation_id="recurring_list",
        summary="Recurring streams (subscriptions, bills, salary)",
        description=(
            "Streams found in the booked history of the consent's accounts, recomputed after every sync. "
            "`status`: `early_detection` (fewer than 3 regular occurrences; 2 for annual), `mature`, `tombstoned` "
            "(an expected occurrence was missed; `is_active` false). A `recurring.updated` webhook announces "
            "changes."
        ),
        auth=[{"oauth2": ["transactions"]}],
        parameters=[OpenApiParameter("account_id", str, description="Only this account's streams")],
        responses={
            200: envelope_schema(
                "RecurringStreams",
                serializers.DictField(child=RecurringStreamSerializer(many=True)),
                {"request_id": serializers.CharField(), "updated_at": serializers.DateTimeField(allow_null=True)},
            ),
            **errors_schema(*COMMON_ERRORS),
        },
        tags=["insights"],
    )
    def get(self, request: Request) -> Response:
        accounts = _accounts(request)
        streams = list(stream_list(accounts=accounts))
        data = {
            "inflow_streams": [stream_data(s, request.consent) for s in streams if s.direction == "inflow"],
            "outflow_streams": [stream_data(s, request.consent) for s in streams if s.direction == "outflow"],
        }
        updated = max((s.updated_at for s in streams), default=None)
        return Response(self.envelope(request, data, updated_at=updated))


def _accounts(request: Request) -> Any:
    accounts = consent_accounts(consent=request.consent)
    wanted = request.query_params.get("account_id")
    if wanted is not None:
        accounts = accounts.filter(public_id=_uuid_param(wanted))
        if not accounts.exists():
            raise NotFoundError("No such account in this consent.")
    return accounts


def _uuid_param(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFoundError("No such account in this consent.") from None


class IncomeStreamSerializer(serializers.Serializer):
    stream_id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    counterparty = CounterpartySerializer(allow_null=True)
    category = StreamCategorySerializer()
    pay_frequency = serializers.ChoiceField(choices=RecurringStream.Frequency.choices)
    average_amount = serializers.CharField()
    currency = serializers.CharField()
    last_date = serializers.DateField()
    predicted_next_date = serializers.DateField()
    is_active = serializers.BooleanField()
    total_90d = serializers.CharField(help_text="Received in the last 90 days")
    total_12m = serializers.CharField(help_text="Received in the last 12 months")


class IncomeView(ConsentAPIView):
    """Income streams (salary, benefits, pension, interest) with pay frequency and totals (permission
    ``insights``)."""

    required_permission = "insights"

    @extend_schema(
        operation_id="income_retrieve",
        summary="Income: salary, benefit and interest streams with 90-day and 12-month totals",
        auth=[{"oauth2": ["insights"]}],
        responses={
            200: envelope_schema("IncomeSummary", IncomeStreamSerializer(many=True)),
            **errors_schema(*COMMON_ERRORS),
        },
        tags=["insights"],
    )
    def get(self, request: Request) -> Response:
        rows = income_summary(accounts=consent_accounts(consent=request.consent), today=insights_today())
        data = [
            {
                "stream_id": r["stream"].public_id,
                "account_id": r["stream"].account.public_id,
                "counterparty": _counterparty(r["stream"].counterparty, request.consent),
                "category": _category(r["stream"].category_detailed),
                "pay_frequency": r["stream"].frequency,
                "average_amount": money(r["stream"].average_amount),
                "currency": r["stream"].currency,
                "last_date": r["stream"].last_date,
                "predicted_next_date": r["stream"].predicted_next_date,
                "is_active": r["stream"].is_active,
                "total_90d": money(r["total_90d"]),
                "total_12m": money(r["total_12m"]),
            }
            for r in rows
        ]
        return Response(self.envelope(request, data))


class RiskSignalQuerySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RiskSignal.Kind.values, required=False)
    min_score = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    account_id = serializers.UUIDField(required=False)


class RiskSignalSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=RiskSignal.Kind.values)
    score = serializers.FloatField(help_text="0..1: how strongly the data points to it")
    reason = serializers.CharField()
    transaction_id = serializers.UUIDField(allow_null=True, help_text="The transaction it is about; null: the account")
    transaction_ids = serializers.ListField(child=serializers.UUIDField(), help_text="The transactions behind it")
    counterparty = CounterpartySerializer(allow_null=True)
    details = serializers.DictField()
    detected_at = serializers.DateTimeField()


class RiskSignalListView(ConsentAPIView):
    """Risk signals of the consent's accounts, strongest first (permission ``insights``)."""

    required_permission = "insights"

    @extend_schema(
        operation_id="risk_signals_list",
        summary="Risk signals: duplicates, card testing, outliers, new payees, velocity, balance risk, income",
        auth=[{"oauth2": ["insights"]}],
        parameters=[RiskSignalQuerySerializer],
        responses={
            200: envelope_schema("RiskSignals", RiskSignalSerializer(many=True)),
            **errors_schema(400, *COMMON_ERRORS),
        },
        tags=["insights"],
    )
    def get(self, request: Request) -> Response:
        params = RiskSignalQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        q = params.validated_data
        accounts = consent_accounts(consent=request.consent)
        if "account_id" in q:
            accounts = accounts.filter(public_id=q["account_id"])
        start, end = selectors.transaction_date_range_for_consent(consent=request.consent)
        data = []
        for s in risk_signal_list(accounts=accounts, kind=q.get("kind"), min_score=q.get("min_score"))[:500]:
            tx = s.transaction
            if tx is not None and ((start and tx.booking_date < start) or (end and tx.booking_date > end)):
                continue  # outside the consent's transaction range
            enrichment = getattr(tx, "enrichment", None) if tx is not None else None
            data.append(
                {
                    "id": s.public_id,
                    "account_id": s.account.public_id,
                    "kind": s.kind,
                    "score": s.score,
                    "reason": s.reason,
                    "transaction_id": tx.public_id if tx is not None else None,
                    "transaction_ids": s.transaction_ids,
                    "counterparty": _counterparty(enrichment.counterparty if enrichment else None, request.consent),
                    "details": s.details,
                    "detected_at": s.detected_at,
                }
            )
        return Response(self.envelope(request, data))
