"""The third-party data API: accounts, balances, transactions and the delta feed — thin views over
consent-applying selectors (``selectors``); what every view shares is in ``base``, syncs in ``syncs``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from aggregator.insights.selectors import enrichment_for_transactions

from . import selectors
from .base import ACCOUNT_ID, COMMON_ERRORS, ConsentAPIView, envelope_schema, errors_schema, parse_uuid
from .serializers import (
    AccountSerializer,
    BalanceSerializer,
    DeltaQuerySerializer,
    TransactionQuerySerializer,
    TransactionSerializer,
    account_data,
    balance_data,
    transaction_data,
    transaction_query,
    transaction_values,
)

__all__ = [
    "AccountBalancesView",
    "AccountDetailView",
    "AccountListView",
    "AccountTransactionsView",
    "TransactionSyncView",
]


class AccountListView(ConsentAPIView):
    """The accounts the user shared in this consent (permission ``accounts``)."""

    required_permission = "accounts"

    @extend_schema(
        operation_id="accounts_list",
        summary="The consent's accounts",
        auth=[{"oauth2": ["accounts"]}],
        responses={200: envelope_schema("AccountList", AccountSerializer(many=True)), **errors_schema(*COMMON_ERRORS)},
        tags=["accounts"],
    )
    def get(self, request: Request) -> Response:
        accounts = [account_data(a) for a in selectors.account_list_for_consent(consent=request.consent)]
        return Response(self.envelope(request, accounts, count=len(accounts)))


class AccountDetailView(ConsentAPIView):
    """One account of the consent; 404 for any other account (permission ``accounts``)."""

    required_permission = "accounts"

    @extend_schema(
        operation_id="accounts_retrieve",
        parameters=[ACCOUNT_ID],
        summary="One account of the consent",
        auth=[{"oauth2": ["accounts"]}],
        responses={200: envelope_schema("AccountDetail", AccountSerializer()), **errors_schema(*COMMON_ERRORS)},
        tags=["accounts"],
    )
    def get(self, request: Request, account_id: str) -> Response:
        return Response(self.envelope(request, account_data(self.get_account(request, account_id))))


class AccountBalancesView(ConsentAPIView):
    """Balances of one of the consent's accounts, by type (permission ``balances``)."""

    required_permission = "balances"

    @extend_schema(
        operation_id="accounts_balances_list",
        parameters=[ACCOUNT_ID],
        summary="Balances of one account",
        auth=[{"oauth2": ["balances"]}],
        responses={200: envelope_schema("BalanceList", BalanceSerializer(many=True)), **errors_schema(*COMMON_ERRORS)},
        tags=["balances"],
    )
    def get(self, request: Request, account_id: str) -> Response:
        account = self.get_account(request, account_id)
        balances = [balance_data(b) for b in selectors.balance_list_for_account(account=account)]
        return Response(self.envelope(request, balances, account_id=account.public_id))


class AccountTransactionsView(ConsentAPIView):
    """Newest first, keyset-paginated on ``(booking_date, id)``; only inside the consent's date range."""

    required_permission = "transactions"

    @extend_schema(
        operation_id="accounts_transactions_list",
        summary="Transactions of one account",
        description=(
            "Newest first (booking date, then a stable tie-breaker). Follow `links.next` until it is null; each "
            "transaction is returned exactly once per walk, also while new ones arrive. Only booking dates inside "
            "the consent's transaction range are visible."
        ),
        auth=[{"oauth2": ["transactions"]}],
        parameters=[ACCOUNT_ID, TransactionQuerySerializer],
        responses={
            200: envelope_schema(
                "TransactionPage",
                TransactionSerializer(many=True),
                {
                    "request_id": serializers.CharField(),
                    "page_size": serializers.IntegerField(),
                    "transactions_from": serializers.DateField(allow_null=True),
                    "transactions_to": serializers.DateField(allow_null=True),
                },
            ),
            **errors_schema(400, *COMMON_ERRORS),
        },
        tags=["transactions"],
    )
    def get(self, request: Request, account_id: str) -> Response:
        q = transaction_query(request.query_params)
        account_uuid = parse_uuid(account_id)
        filters = selectors.TransactionFilters(
            booked_from=q.get("booked_from"),
            booked_to=q.get("booked_to"),
            status=q.get("status"),
            min_amount=q.get("min_amount"),
            max_amount=q.get("max_amount"),
        )
        page = selectors.transaction_page_for_consent(
            consent=request.consent,
            account_id=account_uuid,
            filters=filters,
            page_size=q["page_size"],
            cursor=q.get("cursor"),
        )
        links = page.pending_ids
        enriched = enrichment_for_transactions(row["id"] for row in page.rows)
        data = [
            transaction_data(
                row,
                account_uuid,
                links.get((row["account_id"], row["pending_transaction_id"])),
                enriched.get(row["id"]),
            )
            for row in page.rows
        ]
        return Response(
            self.envelope(
                request,
                data,
                next_query={"cursor": page.next_cursor} if page.next_cursor else None,
                page_size=q["page_size"],
                transactions_from=page.transactions_from,
                transactions_to=page.transactions_to,
            )
        )


class TransactionSyncView(ConsentAPIView):
    """The delta feed across all the consent's accounts.

    The rules (what is ``added``, ``modified``, ``removed``, and why no row is skipped or mislabelled) live in
    :mod:`aggregator.delta`. A pending transaction that posts under a new id is reported as the pending one
    removed plus the booked one added with ``pending_transaction_id`` pointing at the removed id. The first walk
    (no cursor) returns every live transaction in range as *added*.
    """

    required_permission = "transactions"

    @extend_schema(
        operation_id="transactions_sync",
        summary="Delta feed of transaction changes across the consent's accounts",
        description=(
            "Call without `cursor` first (everything in range comes as `added`), then keep calling with "
            "`next_cursor` while `has_more` is true; store the last `next_cursor` and call again later (or when "
            "a `transactions.updated` webhook arrives) to get what changed since. A transaction is `added` the "
            "first time your cursor passes it; `modified` and `removed` only name transactions your cursor has "
            "passed before (apply `modified` as an upsert by id: a row that changed while you walked may come "
            "again). `meta.sync_in_progress` is true while a sync of the consent's banks is queued, running or "
            "interrupted (it resumes by itself): more changes are on the way; `meta.history_complete` is false "
            "until each bank's first sync has finished (the history is partial until then)."
        ),
        auth=[{"oauth2": ["transactions"]}],
        parameters=[DeltaQuerySerializer],
        responses={
            200: envelope_schema(
                "TransactionDelta",
                inline_serializer(
                    "TransactionDeltaData",
                    {
                        "added": TransactionSerializer(many=True),
                        "modified": TransactionSerializer(many=True),
                        "removed": inline_serializer(
                            "RemovedTransaction",
                            {"id": serializers.UUIDField(), "account_id": serializers.UUIDField()},
                            many=True,
                        ),
                        "next_cursor": serializers.CharField(),
                        "has_more": serializers.BooleanField(),
                    },
                ),
                {
                    "request_id": serializers.CharField(),
                    "sync_in_progress": serializers.BooleanField(
                        help_text="True while a sync of the consent's bank connections is queued or running, "
                        "including one interrupted by a failure that resumes by itself: more changes are coming "
                        "(call again with `next_cursor` once it is false, or on the `transactions.updated` webhook)."
                    ),
                    "history_complete": serializers.BooleanField(
                        help_text="False until every bank connection behind the consent has finished its first "
                        "sync: until then the feed holds only part of the history (older transactions still come "
                        "as `added`)."
                    ),
                },
            ),
            **errors_schema(400, *COMMON_ERRORS),
        },
        tags=["transactions"],
    )
    def get(self, request: Request) -> Response:
        params = DeltaQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        q = params.validated_data
        # Read before the page: a sync that ends while the page is read is still reported as in progress.
        status = selectors.sync_status_for_consent(consent=request.consent)
        page, next_cursor = selectors.transaction_delta_for_consent(
            consent=request.consent, cursor=q.get("cursor"), count=q["count"]
        )
        rows = [*page.added, *page.modified]
        links = selectors.pending_links(
            {(r.account_id, r.pending_transaction_id) for r in rows if r.pending_transaction_id}
        )
        enriched = enrichment_for_transactions(r.id for r in rows)

        payments = selectors.payment_links({r.pk for r in rows})

        def item(row: Any) -> dict[str, Any]:
            values = transaction_values(row, payment_id=payments.get(row.pk))
            pending = links.get((row.account_id, row.pending_transaction_id))
            return transaction_data(values, row.account.public_id, pending, enriched.get(row.id))

        data = {
            "added": [item(r) for r in page.added],
            "modified": [item(r) for r in page.modified],
            "removed": [{"id": r.public_id, "account_id": r.account.public_id} for r in page.removed],
            "next_cursor": next_cursor,
            "has_more": page.has_more,
        }
        return Response(
            self.envelope(
                request,
                data,
                next_query={"cursor": next_cursor} if page.has_more else None,
                sync_in_progress=status.in_progress,
                history_complete=status.history_complete,
            )
        )
