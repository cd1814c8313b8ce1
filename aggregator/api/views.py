"""The third-party data API: thin views over consent-applying selectors.

Every view: OAuth2 bearer token (issued by DOT, checked with its consent in one query by
:class:`consent.api_auth.ConsentTokenAuthentication`) → :class:`consent.api_auth.ConsentRequired` (authorised, unexpired
consent; the view's ``required_permission`` in the consent and the token's scopes; sets ``request.consent``) →
throttles (per TPP, per consent) → a selector that applies the consent → the envelope
``{"data", "links": {"self", "next"}, "meta"}``. Objects outside the consent are 404, whoever owns them.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aggregator.middleware import request_id_for
from consent.api_auth import ConsentRequired, ConsentTokenAuthentication

from . import selectors, services
from .access_log import AccessRecord, access_log_record
from .envelope import envelope, envelope_schema
from .serializers import (
    TRANSACTION_FIELDS,
    AccountSerializer,
    BalanceSerializer,
    DeltaQuerySerializer,
    ErrorResponseSerializer,
    SyncRunSerializer,
    TransactionQuerySerializer,
    TransactionSerializer,
    account_data,
    balance_data,
    syncrun_data,
    transaction_data,
    transaction_query,
)
from .throttles import ConsentRefreshThrottle, DataAPIThrottle

__all__ = [
    "AccountBalancesView",
    "AccountDetailView",
    "AccountListView",
    "AccountTransactionsView",
    "ConsentRefreshView",
    "ORJSONRenderer",
    "SyncRunDetailView",
    "TransactionSyncView",
]


class ORJSONRenderer(BaseRenderer):
    """``application/json`` with orjson: UTC datetimes end in ``Z``, UUIDs and dates as strings."""

    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=str, option=orjson.OPT_UTC_Z)


def _errors(*statuses: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "Invalid parameter (see `errors[].field`)",
        401: "Missing/invalid token, or the consent was revoked or expired",
        403: "The consent or the token lacks the permission (`permission_missing`)",
        404: "Not found, or not part of the consent",
        406: "Only application/json is served",
        409: "No active bank connection",
        415: "Only application/json bodies are accepted",
        429: "Throttled; see the Retry-After header",
    }
    return {s: OpenApiResponse(ErrorResponseSerializer, description=descriptions[s]) for s in statuses}


_envelope = envelope_schema


_COMMON_ERRORS = (401, 403, 404, 406, 429)


def _path_id(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.UUID, OpenApiParameter.PATH, description=f"The {what}'s opaque id")


ACCOUNT_ID = _path_id("account_id", "account")


def _parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError) as exc:
        raise NotFound() from exc


class ConsentAPIView(APIView):
    """Base: consent permission, throttles, orjson, the envelope and the access log."""

    authentication_classes = [ConsentTokenAuthentication]
    permission_classes = [ConsentRequired]
    throttle_classes = [DataAPIThrottle]
    renderer_classes = [ORJSONRenderer]
    required_permission: str | None = None

    def envelope(
        self, request: Request, data: Any, *, next_query: dict[str, Any] | None = None, **meta: Any
    ) -> dict[str, Any]:
        return envelope(request, data, next_query=next_query, **meta)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        token = request.auth
        consent_id = getattr(token, "consent_id", None)
        if consent_id is not None:
            access_log_record(
                AccessRecord(
                    consent_id=consent_id,
                    application_id=token.application_id,
                    at=timezone.now(),
                    method=request.method,
                    endpoint=request.path,
                    status_code=response.status_code,
                    request_id=request_id_for(request._request),
                )
            )
        return response

    def get_account(self, request: Request, account_id: str) -> Any:
        return selectors.account_get_for_consent(consent=request.consent, account_id=_parse_uuid(account_id))


class AccountListView(ConsentAPIView):
    """The accounts the user shared in this consent (permission ``accounts``)."""

    required_permission = "accounts"

    @extend_schema(
        operation_id="accounts_list",
        summary="The consent's accounts",
        auth=[{"oauth2": ["accounts"]}],
        responses={200: _envelope("AccountList", AccountSerializer(many=True)), **_errors(*_COMMON_ERRORS)},
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
        responses={200: _envelope("AccountDetail", AccountSerializer()), **_errors(*_COMMON_ERRORS)},
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
        responses={200: _envelope("BalanceList", BalanceSerializer(many=True)), **_errors(*_COMMON_ERRORS)},
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
            200: _envelope(
                "TransactionPage",
                TransactionSerializer(many=True),
                {
                    "request_id": serializers.CharField(),
                    "page_size": serializers.IntegerField(),
                    "transactions_from": serializers.DateField(allow_null=True),
                    "transactions_to": serializers.DateField(allow_null=True),
                },
            ),
            **_errors(400, *_COMMON_ERRORS),
        },
        tags=["transactions"],
    )
    def get(self, request: Request, account_id: str) -> Response:
        q = transaction_query(request.query_params)
        account_uuid = _parse_uuid(account_id)
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
        data = [
            transaction_data(row, account_uuid, links.get((row["account_id"], row["pending_transaction_id"])))
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
            "again)."
        ),
        auth=[{"oauth2": ["transactions"]}],
        parameters=[DeltaQuerySerializer],
        responses={
            200: _envelope(
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
            ),
            **_errors(400, *_COMMON_ERRORS),
        },
        tags=["transactions"],
    )
    def get(self, request: Request) -> Response:
        params = DeltaQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        q = params.validated_data
        page, next_cursor = selectors.transaction_delta_for_consent(
            consent=request.consent, cursor=q.get("cursor"), count=q["count"]
        )
        rows = [*page.added, *page.modified]
        links = selectors.pending_links(
            {(r.account_id, r.pending_transaction_id) for r in rows if r.pending_transaction_id}
        )

        def item(row: Any) -> dict[str, Any]:
            values = {f: getattr(row, f) for f in TRANSACTION_FIELDS}
            pending = links.get((row.account_id, row.pending_transaction_id))
            return transaction_data(values, row.account.public_id, pending)

        data = {
            "added": [item(r) for r in page.added],
            "modified": [item(r) for r in page.modified],
            "removed": [{"id": r.public_id, "account_id": r.account.public_id} for r in page.removed],
            "next_cursor": next_cursor,
            "has_more": page.has_more,
        }
        return Response(self.envelope(request, data, next_query={"cursor": next_cursor} if page.has_more else None))


class ConsentRefreshView(ConsentAPIView):
    """Ask for fresh data from the banks behind the consent (any permission)."""

    required_permission = None
    throttle_classes = [DataAPIThrottle, ConsentRefreshThrottle]

    @extend_schema(
        operation_id="consents_refresh",
        parameters=[_path_id("consent_id", "consent")],
        summary="Ask for a fresh sync of the consent's bank connections",
        description=(
            "Queues one sync per active bank connection behind the consent and answers 202 with the sync id "
            "(`data.id`; all of them in `meta.sync_ids`). Limited per consent (default 3 an hour) and never "
            "beyond a bank's own limit of unattended calls (e.g. 4 a day): 429 with `Retry-After`."
        ),
        auth=[{"oauth2": []}],
        request=None,
        responses={
            202: _envelope(
                "RefreshAccepted",
                SyncRunSerializer(),
                {
                    "request_id": serializers.CharField(),
                    "sync_ids": serializers.ListField(child=serializers.UUIDField()),
                },
            ),
            **_errors(*_COMMON_ERRORS, 409, 415),
        },
        tags=["syncs"],
    )
    def post(self, request: Request, consent_id: str) -> Response:
        if _parse_uuid(consent_id) != request.consent.pk:
            raise NotFound("No such consent for this token.")
        _ = request.data  # a body, if any, must be JSON (415 otherwise)
        runs = services.consent_refresh_request(consent=request.consent)
        body = self.envelope(
            request,
            syncrun_data(runs[0], runs[0].connection.institution.slug),
            sync_ids=[r.public_id for r in runs],
        )
        return Response(body, status=202)


class SyncRunDetailView(ConsentAPIView):
    """State and counts of a sync of one of the consent's connections (any permission)."""

    required_permission = None

    @extend_schema(
        operation_id="syncs_retrieve",
        parameters=[_path_id("sync_id", "sync")],
        summary="State of a sync",
        auth=[{"oauth2": []}],
        responses={200: _envelope("SyncRunDetail", SyncRunSerializer()), **_errors(*_COMMON_ERRORS)},
        tags=["syncs"],
    )
    def get(self, request: Request, sync_id: str) -> Response:
        run = selectors.syncrun_get_for_consent(consent=request.consent, sync_id=_parse_uuid(sync_id))
        return Response(self.envelope(request, syncrun_data(run, run.connection.institution.slug)))
