"""Payments for TPPs: ``/api/v1/payment-consents`` and ``/api/v1/payments`` (API layer; the rules are
``aggregator.payments`` and ``consent.services``).

* ``POST /payment-consents`` — client-credentials token (scope ``consents``): the instruction; ``201`` with the id
  to send the user to ``/oauth/authorize/?consent_id=…&scope=payments`` with.
* ``GET /payment-consents/{id}`` — the client-credentials token, or the payment token of that consent.
* ``GET /payment-consents/{id}/funds-confirmation`` — the payment token, where the bank offers it.
* ``POST /payments`` — the payment token, ``Idempotency-Key`` header: at most one payment per key (the same key and
  body answer the same payment again, ``200``), one payment per consent, the body repeating the instruction.
* ``GET /payments/{id}`` — the client-credentials token, or the payment token of its consent.

A data token is refused on every one of them (``permission_missing``) and a payment token on every data endpoint.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aggregator.payments.consents import payment_consent_confirm_funds
from aggregator.payments.models import Payment, PaymentConsent
from aggregator.payments.services import payment_create
from consent.api_auth import (
    ClientCredentialsRequired,
    ConsentRequired,
    ConsentTokenAuthentication,
    PaymentTokenOrClientRequired,
)
from consent.selectors import application_account
from consent.services import consent_create_for_payment

from .base import ConsentExpiryRecorded, ORJSONRenderer, parse_uuid
from .envelope import envelope, envelope_schema
from .errors import ApiError
from .payment_serializers import (
    FundsSerializer,
    PaymentConsentCreateSerializer,
    PaymentConsentSerializer,
    PaymentCreateSerializer,
    PaymentSerializer,
    payment_consent_data,
    payment_data,
)
from .serializers import ErrorResponseSerializer
from .throttles import ConsentManagementThrottle

__all__ = [
    "FundsConfirmationView",
    "PaymentConsentDetailView",
    "PaymentConsentListView",
    "PaymentDetailView",
    "PaymentListView",
]


# --- views ------------------------------------------------------------------------------------------------
_DESCRIPTIONS = {
    400: "Invalid body (see `errors[].field`), a missing or malformed `Idempotency-Key`, or a payment that does not "
    "repeat its consent's instruction (`instruction_mismatch`)",
    401: "Missing or invalid token, or the payment consent was revoked or expired",
    403: "Wrong kind of token (`permission_missing`): a data token never reaches the payment endpoints",
    404: "No such payment consent or payment for this token",
    409: "The payment consent is not authorised, already used (`payment_consent_consumed`) or expired; the bank "
    "offers no funds confirmation (`not_supported`)",
    422: "The Idempotency-Key was used before with a different body (`idempotency_key_reused`)",
    429: "Throttled, see the Retry-After header (the consent management rate per third-party app)",
    503: "The bank could not answer just now; retry after the Retry-After header",
}


def _errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {s: OpenApiResponse(ErrorResponseSerializer, description=_DESCRIPTIONS[s]) for s in statuses}


_ID = OpenApiParameter("payment_consent_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Its id")
_PAYMENT_ID = OpenApiParameter("payment_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Its id")
_IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="1 to 255 visible ASCII characters, unique per payment (a UUID): the same key and body give the "
    "same payment back, never a second one",
)


class _PaymentAPIView(APIView):
    authentication_classes = [ConsentTokenAuthentication]
    throttle_classes = [ConsentManagementThrottle]
    renderer_classes = [ORJSONRenderer]
    required_permission = "payments"


def _token_payment_consent(request: Request) -> PaymentConsent:
    consent = request.consent
    if consent is None or consent.payment_consent_id is None:  # pragma: no cover - the permission makes sure
        raise ApiError(403, "permission_missing", "This endpoint needs a payment token.")
    return PaymentConsent.objects.select_related("debtor_account__connection__institution").get(
        pk=consent.payment_consent_id
    )


class PaymentConsentListView(_PaymentAPIView):
    permission_classes = [ClientCredentialsRequired]

    @extend_schema(
        operation_id="payment_consents_create",
        summary="Ask for one payment; the user approves it at /oauth/authorize/ (scope payments) and at the bank",
        auth=[{"oauth2": ["consents"]}],
        request=PaymentConsentCreateSerializer,
        responses={
            201: envelope_schema("PaymentConsentCreated", PaymentConsentSerializer()),
            **_errors(400, 401, 403, 429),
        },
        tags=["payments"],
    )
    def post(self, request: Request) -> Response:
        body = PaymentConsentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        debtor = None
        debtor_id = data.pop("debtor_account_id", None)
        if debtor_id is not None:
            debtor = application_account(application=request.application, account_id=debtor_id)
            if debtor is None:
                raise ApiError(400, "invalid", "No such account shared with your app.", field="debtor_account_id")
        consent = consent_create_for_payment(application=request.application, instruction=data, debtor_account=debtor)
        pc = PaymentConsent.objects.select_related("debtor_account").get(pk=consent.payment_consent_id)
        location = reverse("api:payment-consent-detail", kwargs={"payment_consent_id": pc.public_id})
        return Response(
            envelope(request, payment_consent_data(pc)), status=status.HTTP_201_CREATED, headers={"Location": location}
        )


class PaymentConsentDetailView(ConsentExpiryRecorded, _PaymentAPIView):
    permission_classes = [PaymentTokenOrClientRequired]

    @extend_schema(
        operation_id="payment_consents_retrieve",
        summary="A payment consent (client-credentials token, or the payment token issued under it)",
        auth=[{"oauth2": ["consents"]}, {"oauth2": ["payments"]}],
        parameters=[_ID],
        responses={
            200: envelope_schema("PaymentConsentDetail", PaymentConsentSerializer()),
            **_errors(401, 403, 404, 429),
        },
        tags=["payments"],
    )
    def get(self, request: Request, payment_consent_id: str) -> Response:
        wanted = parse_uuid(payment_consent_id)
        queryset = PaymentConsent.objects.select_related("debtor_account").filter(public_id=wanted)
        if request.consent is not None:
            queryset = queryset.filter(pk=request.consent.payment_consent_id)
        else:
            queryset = queryset.filter(client_id=request.application.client_id)
        pc = queryset.first()
        if pc is None:
            raise ApiError(404, "payment_consent_not_found", "No such payment consent.")
        return Response(envelope(request, payment_consent_data(pc)))


class FundsConfirmationView(ConsentExpiryRecorded, _PaymentAPIView):
    permission_classes = [ConsentRequired]

    @extend_schema(
        operation_id="payment_consents_funds_confirmation",
        summary="Whether the debtor account holds the amount now (payment token; where the bank offers it)",
        auth=[{"oauth2": ["payments"]}],
        parameters=[_ID],
        responses={
            200: envelope_schema("FundsConfirmation", FundsSerializer()),
            **_errors(401, 403, 404, 409, 429, 503),
        },
        tags=["payments"],
    )
    def get(self, request: Request, payment_consent_id: str) -> Response:
        pc = _token_payment_consent(request)
        if pc.public_id != parse_uuid(payment_consent_id):
            raise ApiError(404, "payment_consent_not_found", "No such payment consent.")
        available = payment_consent_confirm_funds(consent=pc)
        return Response(envelope(request, {"funds_available": available, "payment_consent_id": pc.public_id}))


class PaymentListView(ConsentExpiryRecorded, _PaymentAPIView):
    permission_classes = [ConsentRequired]

    @extend_schema(
        operation_id="payments_create",
        summary="Make the payment of the token's authorised payment consent (once per Idempotency-Key)",
        description=(
            "The body repeats the consent's instruction exactly. `201` with the new payment (status `pending`: the "
            "bank is asked right after); the same `Idempotency-Key` with the same body answers `200` with the same "
            "payment, with another body `422 idempotency_key_reused`. A consent makes one payment only."
        ),
        auth=[{"oauth2": ["payments"]}],
        parameters=[_IDEMPOTENCY_KEY],
        request=PaymentCreateSerializer,
        responses={
            201: envelope_schema("PaymentCreated", PaymentSerializer()),
            200: envelope_schema("PaymentReplayed", PaymentSerializer()),
            **_errors(400, 401, 403, 409, 422, 429),
        },
        tags=["payments"],
    )
    def post(self, request: Request) -> Response:
        pc = _token_payment_consent(request)
        body = PaymentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        given = data.pop("payment_consent_id", None)
        if given is not None and given != pc.public_id:
            raise ApiError(
                400, "invalid", "The token was issued for another payment consent.", field="payment_consent_id"
            )
        payment, created = payment_create(
            consent=pc,
            client_id=request.auth.application.client_id,
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            instruction=data,
        )
        payment = Payment.objects.select_related("consent", "transaction").get(pk=payment.pk)
        location = reverse("api:payment-detail", kwargs={"payment_id": payment.public_id})
        return Response(
            envelope(request, payment_data(payment)),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            headers={"Location": location},
        )


class PaymentDetailView(ConsentExpiryRecorded, _PaymentAPIView):
    permission_classes = [PaymentTokenOrClientRequired]

    @extend_schema(
        operation_id="payments_retrieve",
        summary="A payment: our status, the bank's status and reason, the booked transaction once reconciled",
        auth=[{"oauth2": ["consents"]}, {"oauth2": ["payments"]}],
        parameters=[_PAYMENT_ID],
        responses={200: envelope_schema("PaymentDetail", PaymentSerializer()), **_errors(401, 403, 404, 429)},
        tags=["payments"],
    )
    def get(self, request: Request, payment_id: str) -> Response:
        queryset = Payment.objects.select_related("consent", "transaction").filter(public_id=parse_uuid(payment_id))
        if request.consent is not None:
            queryset = queryset.filter(consent_id=request.consent.payment_consent_id)
        else:
            queryset = queryset.filter(client_id=request.application.client_id)
        payment = queryset.first()
        if payment is None:
            raise ApiError(404, "payment_not_found", "No such payment.")
        return Response(envelope(request, payment_data(payment)))
