"""URLs of the benchmark server: the real ones plus two baselines for ``GET /accounts/{id}/transactions``.

* ``bench/bare/…`` — the floor: one ``values()`` query and ``orjson``, no authentication, no consent, no DRF;
  the same JSON bytes as the API (only ``meta.request_id`` differs).
* ``bench/everyday/…`` — the same endpoint written the everyday way: DRF ``ListAPIView`` + ``ModelSerializer`` +
  ``PageNumberPagination`` (OFFSET and COUNT), with the same OAuth2 + consent permission.
"""

from __future__ import annotations

import orjson
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from rest_framework import generics, serializers
from rest_framework.pagination import PageNumberPagination

from aggregator.api.serializers import TRANSACTION_FIELDS, transaction_data
from aggregator.config.urls import urlpatterns as real_urlpatterns
from aggregator.cursors import cursor_encode
from aggregator.models import TRANSACTION_DATA_COLUMNS, Account, Transaction
from consent.api_auth import ConsentRequired


def bare_transactions(request, account_id):  # type: ignore[no-untyped-def]
    page_size = int(request.GET.get("page_size", 100))
    # The account's key first: a join on public_id makes PostgreSQL sort all of its rows instead of walking the index.
    account_pk = Account.objects.values_list("pk", flat=True).get(public_id=account_id)
    rows = list(
        Transaction.objects.filter(account_id=account_pk, removed_at__isnull=True)
        .order_by("-booking_date", "-id")
        .values(*TRANSACTION_FIELDS)[: page_size + 1]
    )
    next_url = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        token = cursor_encode(
            {"d": rows[-1]["booking_date"].isoformat(), "i": rows[-1]["id"]}, purpose="transactions", owner=account_id
        )
        next_url = f"http://{request.get_host()}/api/v1/accounts/{account_id}/transactions?page_size={page_size}&cursor={token}"
    body = {
        "data": [transaction_data(r, account_id) for r in rows],
        "links": {
            "self": f"http://{request.get_host()}/api/v1/accounts/{account_id}/transactions?page_size={page_size}",
            "next": next_url,
        },
        "meta": {"page_size": page_size, "transactions_from": None, "transactions_to": None, "request_id": "-"},
    }
    return HttpResponse(orjson.dumps(body, default=str, option=orjson.OPT_UTC_Z), content_type="application/json")


class EverydayTransactionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    account_id = serializers.UUIDField(source="account.public_id")

    class Meta:
        model = Transaction
        # What the API returns: its columns without the internal key (one declaration, aggregator.models).
        fields = ["id", "account_id", *TRANSACTION_DATA_COLUMNS[:-1]]


class EverydayPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class EverydayTransactions(generics.ListAPIView):
    permission_classes = [ConsentRequired]
    required_permission = "transactions"
    serializer_class = EverydayTransactionSerializer
    pagination_class = EverydayPagination

    def get_queryset(self):  # type: ignore[no-untyped-def]
        account = get_object_or_404(
            Account.objects.filter(consents=self.request.consent), public_id=self.kwargs["account_id"]
        )
        return (
            Transaction.objects.filter(account=account, removed_at__isnull=True)
            .select_related("account")
            .order_by("-booking_date", "-id")
        )


urlpatterns = [
    path("bench/bare/accounts/<str:account_id>/transactions", bare_transactions),
    path("bench/everyday/accounts/<str:account_id>/transactions", EverydayTransactions.as_view()),
    *real_urlpatterns,
]
