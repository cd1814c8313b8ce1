"""The consent resource for TPPs: ``POST/GET /api/v1/consents`` and ``GET/DELETE /api/v1/consents/{id}`` (API
layer; the rules are consent's services and selectors).

Bodies use the data API's envelope ``{"data", "links", "meta"}`` (:mod:`aggregator.api.envelope`).

Authenticated with the TPP's client-credentials token (scope ``consents``). A TPP only ever sees its own
consents: another TPP's id is a plain 404.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aggregator.ledger.selectors import ledger_leaf_indexes_for, ledger_leaf_indexes_for_many
from consent.api_auth import ClientCredentialsRequired, ConsentRequired
from consent.clocks import consent_reauthenticate_by
from consent.models import Consent
from consent.selectors import consent_accounts, consent_get_for_application
from consent.services import consent_create, consent_revoke, max_consent_days

from .base import ConsentExpiryRecorded
from .envelope import envelope, envelope_schema
from .serializers import ErrorResponseSerializer
from .throttles import ConsentManagementThrottle, DataAPIThrottle

__all__ = ["ConsentDetailView", "ConsentListView", "CurrentConsentView"]


class ConsentNotActive(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "consent_not_active"
    default_detail = "The consent is not active."


class ConsentCreateSerializer(serializers.Serializer):
    permissions = serializers.ListField(
        child=serializers.CharField(max_length=32),
        allow_empty=False,
        max_length=10,
        help_text="Any of: accounts, balances, transactions.",
    )
    expires_at = serializers.DateTimeField(help_text="Future instant, at most CONSENT_MAX_DAYS (90) days ahead.")
    transactions_from = serializers.DateTimeField(required=False, allow_null=True)
    transactions_to = serializers.DateTimeField(required=False, allow_null=True)


class LedgerEntrySerializer(serializers.Serializer):
    event = serializers.CharField(help_text="consent.status_changed, token.issued, data.accessed, …")
    leaf_index = serializers.IntegerField(help_text="GET /ledger/proof/inclusion?leaf_index=… proves it is logged")


class ConsentSerializer(serializers.ModelSerializer):
    accounts = serializers.SerializerMethodField()
    ledger = serializers.SerializerMethodField()
    reauthenticate_by = serializers.SerializerMethodField(
        help_text="EU banks (PSD2 RTS Art. 10a): the user must re-authenticate at the bank by this instant (180 days "
        "after the last strong authentication) or its data stops being refreshed; the earliest of the consent's "
        "bank connections. Null when no bank behind the consent has this clock."
    )

    class Meta:
        model = Consent
        fields = [
            "id",
            "status",
            "permissions",
            "expires_at",
            "transactions_from",
            "transactions_to",
            "created_at",
            "authorised_at",
            "status_changed_at",
            "last_accessed_at",
            "tokens_revoked_at",
            "tokens_revoked_reason",
            "reconfirm_by",
            "reauthenticate_by",
            "accounts",
            "ledger",
        ]
        extra_kwargs = {
            "tokens_revoked_at": {
                "help_text": "Set while every token of this authorised consent is revoked (e.g. after refresh-token "
                "reuse): send the user to /oauth/authorize/ with this consent_id again to get new tokens."
            },
            "tokens_revoked_reason": {
                "help_text": "Why, e.g. refresh_token_reuse; empty when tokens_revoked_at is null"
            },
            "reconfirm_by": {
                "help_text": "UK banks (FCA SCA-RTS Art. 10A): the user must reconfirm this consent by this instant; "
                "from then on the data API answers 403 reconfirmation_required until they do (90 days from the "
                "authorisation, then from each reconfirmation). Null when no shared account has this clock."
            },
        }

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_reauthenticate_by(self, consent: Consent) -> str | None:
        due = consent_reauthenticate_by(consent=consent)
        return serializers.DateTimeField().to_representation(due) if due else None

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_accounts(self, consent: Consent) -> list[str]:
        if consent.status != Consent.Status.AUTHORISED:
            return []
        return [str(a.public_id) for a in consent_accounts(consent=consent)]

    @extend_schema_field(LedgerEntrySerializer(many=True))
    def get_ledger(self, consent: Consent) -> list[dict[str, object]]:
        """This consent's events in the public ledger (docs/ledger.md), once appended (within seconds)."""
        known = self.context.get("ledger")
        if known is not None:
            return known.get(str(consent.pk), [])
        return ledger_leaf_indexes_for(subject_type="consent", subject_id=str(consent.pk))


_ERROR_DESCRIPTIONS = {
    400: "Invalid request (see `errors[].field`): unknown permission, expiry in the past or too far ahead, "
    "transactions_from after transactions_to",
    401: "Missing or invalid token",
    403: "The token is not a client-credentials token with scope `consents`",
    404: "No such consent for this third-party app",
    409: "The consent is already rejected or expired",
    429: "Throttled, see the Retry-After header (consent management: `API_THROTTLE_CONSENTS`, default 120 a minute "
    "per third-party app; `current`: the data API's limits)",
}


def _errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {s: OpenApiResponse(ErrorResponseSerializer, description=_ERROR_DESCRIPTIONS[s]) for s in statuses}


_CONSENTS_AUTH = [{"oauth2": ["consents"]}]
_CONSENT_ID = OpenApiParameter("consent_id", type=str, location=OpenApiParameter.PATH, description="Consent id (UUID)")


class ConsentCreatedSerializer(ConsentSerializer):
    """The ``201`` body of ``POST /consents``: the consent plus the server's maximum consent length."""

    max_days = serializers.IntegerField(help_text="The longest consent this server grants (days)")

    class Meta(ConsentSerializer.Meta):
        fields = [*ConsentSerializer.Meta.fields, "max_days"]


class ConsentListView(APIView):
    permission_classes = [ClientCredentialsRequired]
    throttle_classes = [ConsentManagementThrottle]

    @extend_schema(
        operation_id="consents_list",
        summary="The third-party app's consents (newest 100)",
        auth=_CONSENTS_AUTH,
        parameters=[
            OpenApiParameter("status", type=str, enum=list(Consent.Status.values), description="Only this status")
        ],
        responses={
            200: envelope_schema(
                "ConsentList",
                ConsentSerializer(many=True),
                {"count": serializers.IntegerField(), "request_id": serializers.CharField()},
            ),
            **_errors(400, 401, 403, 429),
        },
        tags=["consents"],
    )
    def get(self, request: Request) -> Response:
        qs = Consent.objects.filter(application=request.application).order_by("-created_at")
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in Consent.Status.values:
                raise exceptions.ValidationError({"status": [f"Unknown status {wanted!r}."]})
            qs = qs.filter(status=wanted)
        page = list(qs[:100])
        ledger = ledger_leaf_indexes_for_many(subject_type="consent", subject_ids=[str(c.pk) for c in page])
        data = ConsentSerializer(page, many=True, context={"ledger": ledger}).data
        return Response(envelope(request, data, count=len(data)))

    @extend_schema(
        operation_id="consents_create",
        summary="Ask for a consent; the user authorises it at /oauth/authorize/ with this consent_id",
        auth=_CONSENTS_AUTH,
        request=ConsentCreateSerializer,
        responses={
            201: envelope_schema("ConsentCreatedEnvelope", ConsentCreatedSerializer()),
            **_errors(400, 401, 403, 429),
        },
        tags=["consents"],
    )
    def post(self, request: Request) -> Response:
        serializer = ConsentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        consent = consent_create(application=request.application, **serializer.validated_data)
        body: dict[str, Any] = ConsentSerializer(consent).data
        body["max_days"] = max_consent_days()
        location = reverse("api:consent-detail", kwargs={"consent_id": consent.pk})
        return Response(envelope(request, body), status=status.HTTP_201_CREATED, headers={"Location": location})


class ConsentDetailView(APIView):
    permission_classes = [ClientCredentialsRequired]
    throttle_classes = [ConsentManagementThrottle]

    def _get(self, request: Request, consent_id: Any) -> Consent:
        consent = consent_get_for_application(application=request.application, consent_id=consent_id)
        if consent is None:
            raise exceptions.NotFound("No such consent.", code="consent_not_found")
        return consent

    @extend_schema(
        operation_id="consents_retrieve",
        summary="One of the third-party app's consents",
        auth=_CONSENTS_AUTH,
        parameters=[_CONSENT_ID],
        responses={200: envelope_schema("ConsentDetail", ConsentSerializer()), **_errors(401, 403, 404, 429)},
        tags=["consents"],
    )
    def get(self, request: Request, consent_id: Any) -> Response:
        return Response(envelope(request, ConsentSerializer(self._get(request, consent_id)).data))

    @extend_schema(
        operation_id="consents_revoke",
        summary="Revoke a consent: every token issued under it stops working at once",
        auth=_CONSENTS_AUTH,
        parameters=[_CONSENT_ID],
        responses={
            204: OpenApiResponse(description="Revoked (or already revoked)"),
            **_errors(401, 403, 404, 409, 429),
        },
        tags=["consents"],
    )
    def delete(self, request: Request, consent_id: Any) -> Response:
        consent = self._get(request, consent_id)
        if consent.status == Consent.Status.REVOKED:
            return Response(status=status.HTTP_204_NO_CONTENT)
        if consent.status in {Consent.Status.REJECTED, Consent.Status.EXPIRED}:
            raise ConsentNotActive(f"The consent is already {consent.status}; there is nothing to revoke.")
        consent_revoke(consent=consent, actor_type="tpp", reason="Revoked by the third-party app (DELETE).")
        return Response(status=status.HTTP_204_NO_CONTENT)


class CurrentConsentView(ConsentExpiryRecorded, APIView):
    """``GET /api/v1/consents/current``: the consent a user-bound access token was issued under."""

    permission_classes = [ConsentRequired]
    throttle_classes = [DataAPIThrottle]  # the data API's limits per TPP and per consent
    required_permission = None
    payment_token_allowed = True  # a payment token may read its own consent

    @extend_schema(
        operation_id="consents_current",
        summary="The consent the presented user token was issued under",
        auth=[{"oauth2": []}],
        responses={
            200: envelope_schema("CurrentConsent", ConsentSerializer()),
            **_errors(401, 429),
            403: OpenApiResponse(
                ErrorResponseSerializer,
                description="A token issued without a consent (`consent_required`), or a UK consent its user has "
                "not reconfirmed within 90 days (`reconfirmation_required`)",
            ),
        },
        tags=["consents"],
    )
    def get(self, request: Request) -> Response:
        return Response(envelope(request, ConsentSerializer(request.consent).data))
