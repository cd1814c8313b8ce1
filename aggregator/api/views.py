"""The third-party data API: thin views over consent-applying selectors.

Every view: OAuth2 bearer token (issued by DOT, checked with its consent in one query by
:class:`consent.api_auth.ConsentTokenAuthentication`) → :class:`consent.api_auth.ConsentRequired` (authorised, unexpired
consent; the view's ``required_permission`` in the consent and the token's scopes; sets ``request.consent``) →
throttles (per TPP, per consent) → a selector that applies the consent → the envelope
``{"data", "links": {"self", "next"}, "meta"}``. Objects outside the consent are 404, whoever owns them.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aggregator import selectors
from aggregator.middleware import request_id_for
from aggregator.models import Transaction
from consent.api_auth import ConsentRequired, ConsentTokenAuthentication

from . import services
from .access_log import AccessRecord, access_log_record
from .envelope import envelope, envelope_schema
from .pagination import CursorError, cursor_decode, cursor_encode, keyset_page
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

_MAX_ID = 2**63 - 1


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
        account = selectors.account_get_for_consent(consent=request.consent, account_id=_parse_uuid(account_id))
        if account is None:
            raise NotFound("No such account in this consent.")
        return account


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
        owner = str(account_uuid)
        after = None
        if q.get("cursor"):
            pos = cursor_decode(q["cursor"], purpose="transactions", owner=owner)
            try:
                after = (dt.date.fromisoformat(pos["d"]), int(pos["i"]))
            except (KeyError, TypeError, ValueError):
                raise CursorError() from None
        filters = selectors.TransactionFilters(
            booked_from=q.get("booked_from"),
            booked_to=q.get("booked_to"),
            status=q.get("status"),
            min_amount=q.get("min_amount"),
            max_amount=q.get("max_amount"),
        )
        account_key = _account_key(request.consent, account_uuid)
        if account_key is None:
            raise NotFound("No such account in this consent.")
        queryset = selectors.transaction_list(consent=request.consent, account=account_key, filters=filters)
        rows, last = keyset_page(queryset, after=after, page_size=q["page_size"], fields=TRANSACTION_FIELDS)
        links = _pending_links(
            {(r["account_id"], r["pending_transaction_id"]) for r in rows if r["pending_transaction_id"]}
        )
        data = [
            transaction_data(row, account_uuid, links.get((row["account_id"], row["pending_transaction_id"])))
            for row in rows
        ]
        next_query = None
        if last is not None:
            token = cursor_encode({"d": last[0].isoformat(), "i": last[1]}, purpose="transactions", owner=owner)
            next_query = {"cursor": token}
        start, end = selectors.transaction_date_range_for_consent(consent=request.consent)
        return Response(
            self.envelope(
                request,
                data,
                next_query=next_query,
                page_size=q["page_size"],
                transactions_from=start,
                transactions_to=end,
            )
        )


# (consent id, account public id) → account key, per process, for ACCOUNT_KEY_TTL seconds. Safe to memoise: a
# consent's accounts are fixed when it is authorised, and the consent itself (status, expiry, permissions) is
# still checked on every request; only positive answers are kept, so a 404 is always fresh. It saves one query
# on the hottest endpoint; an account the bank stopped listing stays readable for at most the TTL.
ACCOUNT_KEY_TTL = 30.0
_ACCOUNT_KEYS: dict[tuple[Any, uuid.UUID], tuple[int, float]] = {}
_ACCOUNT_KEYS_MAX = 10_000


def _account_key(consent: Any, account_uuid: uuid.UUID) -> int | None:
    now = time.monotonic()
    hit = _ACCOUNT_KEYS.get((consent.pk, account_uuid))
    if hit is not None and hit[1] > now:
        return hit[0]
    key = selectors.account_key_for_consent(consent=consent, account_id=account_uuid)
    if key is not None:
        if len(_ACCOUNT_KEYS) >= _ACCOUNT_KEYS_MAX:
            _ACCOUNT_KEYS.clear()
        _ACCOUNT_KEYS[(consent.pk, account_uuid)] = (key, now + ACCOUNT_KEY_TTL)
    return key


def _pending_links(wanted: set[tuple[int, str]]) -> dict[tuple[int, str], Any]:
    """``(account pk, provider id)`` of pending transactions that booked ones replaced → their public ids (one
    query, and only when a page holds such a booked row)."""
    if not wanted:
        return {}
    rows = Transaction.objects.filter(
        account_id__in={a for a, _ in wanted},
        provider_transaction_id__in={p for _, p in wanted},
        status=Transaction.Status.PENDING,
    ).values_list("account_id", "provider_transaction_id", "public_id")
    return {(a, p): public_id for a, p, public_id in rows if (a, p) in wanted}


class TransactionSyncView(ConsentAPIView):
    """The delta feed across all the consent's accounts.

    **Cursor design.** The feed is a keyset walk over ``(updated_at, id)`` of the transactions in the consent's
    accounts and date range (index ``txn_account_changes_idx``). A cursor is the position of the last row handed
    out. To make sure a concurrent writer can never be skipped — its rows become visible at *commit* time but
    carry the ``updated_at`` stamped before — each call only hands out rows stamped up to a *watermark*:
    ``now - DELTA_FEED_SAFETY_LAG_SECONDS`` (2 s), and on PostgreSQL also before the start of the oldest
    transaction still writing in the database (``pg_stat_activity.xact_start``). Rows stamped later wait for the
    next call. When a call reaches the watermark (``has_more: false``) the cursor jumps to it, so the next call
    starts exactly where this one's view of the data was complete.

    Classification: a row created after the cursor is *added*, one created before it *modified*, one with
    ``removed_at`` *removed*. A pending transaction that posts under a new id is reported as the pending one
    removed plus the booked one added with ``pending_transaction_id`` pointing at the removed id. The first call
    (no cursor) returns every live transaction in range as *added*.
    """

    required_permission = "transactions"

    @extend_schema(
        operation_id="transactions_sync",
        summary="Delta feed of transaction changes across the consent's accounts",
        description=(
            "Call without `cursor` first (everything in range comes as `added`), then keep calling with "
            "`next_cursor` while `has_more` is true; store the last `next_cursor` and call again later (or when "
            "a `transactions.updated` webhook arrives) to get what changed since."
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
        consent = request.consent
        owner = str(consent.pk)
        after = None
        if q.get("cursor"):
            pos = cursor_decode(q["cursor"], purpose="delta", owner=owner)
            try:
                after = (dt.datetime.fromisoformat(pos["u"]), int(pos["i"]))
            except (KeyError, TypeError, ValueError):
                raise CursorError() from None
        lag = dt.timedelta(seconds=settings.AGGREGATOR.get("DELTA_FEED_SAFETY_LAG_SECONDS", 2.0))
        until = selectors.transaction_change_watermark(lag=lag)
        if after is not None and until < after[0]:
            until = after[0]  # the watermark never moves a cursor backwards
        count = q["count"]
        rows = selectors.transaction_changes_for_consent(consent=consent, after=after, until=until, limit=count + 1)
        has_more = len(rows) > count
        rows = rows[:count]
        added: list[dict[str, Any]] = []
        modified: list[dict[str, Any]] = []
        removed: list[dict[str, Any]] = []
        links = _pending_links({(r.account_id, r.pending_transaction_id) for r in rows if r.pending_transaction_id})
        for row in rows:
            if row.removed_at is not None:
                removed.append({"id": row.public_id, "account_id": row.account.public_id})
                continue
            values = {f: getattr(row, f) for f in TRANSACTION_FIELDS}
            item = transaction_data(
                values, row.account.public_id, links.get((row.account_id, row.pending_transaction_id))
            )
            if after is None or row.created_at > after[0]:
                added.append(item)
            else:
                modified.append(item)
        position = (rows[-1].updated_at, rows[-1].pk) if has_more else (until, _MAX_ID)
        next_cursor = cursor_encode({"u": position[0].isoformat(), "i": position[1]}, purpose="delta", owner=owner)
        data = {"added": added, "modified": modified, "removed": removed, "next_cursor": next_cursor}
        data["has_more"] = has_more
        return Response(self.envelope(request, data, next_query={"cursor": next_cursor} if has_more else None))


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
        if run is None:
            raise NotFound("No such sync for this consent.")
        return Response(self.envelope(request, syncrun_data(run, run.connection.institution.slug)))
