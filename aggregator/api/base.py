"""What every data-API view shares: orjson rendering, the consent checks, throttles, the envelope, the access log
and the OpenAPI helpers.

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
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from aggregator.middleware import request_id_for
from aggregator.observability.context import log_context_bind
from consent.api_auth import ConsentRequired, ConsentTokenAuthentication
from consent.services import consent_expire_if_due

from . import selectors
from .access_log import AccessRecord, access_log_record
from .envelope import envelope, envelope_schema
from .serializers import ErrorResponseSerializer
from .throttles import DataAPIThrottle

__all__ = [
    "ACCOUNT_ID",
    "COMMON_ERRORS",
    "ConsentAPIView",
    "ConsentExpiryRecorded",
    "ORJSONRenderer",
    "envelope_schema",
    "errors_schema",
    "parse_uuid",
    "path_id",
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


def errors_schema(*statuses: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "Invalid parameter (see `errors[].field`)",
        401: "Missing/invalid token, or the consent was revoked or expired",
        403: "The consent or the token lacks the permission (`permission_missing`), or the user has not "
        "reconfirmed the consent within 90 days (`reconfirmation_required`, UK banks)",
        404: "Not found, or not part of the consent",
        406: "Only application/json is served",
        409: "No active bank connection",
        415: "Only application/json bodies are accepted",
        429: "Throttled; see the Retry-After header",
        503: "A dependency is unavailable (database busy, task broker down); nothing was changed. Retry after "
        "the Retry-After header",
    }
    return {s: OpenApiResponse(ErrorResponseSerializer, description=descriptions[s]) for s in statuses}


COMMON_ERRORS = (401, 403, 404, 406, 429, 503)


def path_id(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.UUID, OpenApiParameter.PATH, description=f"The {what}'s opaque id")


ACCOUNT_ID = path_id("account_id", "account")


def parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError) as exc:
        raise NotFound() from exc


class ConsentExpiryRecorded:
    """A view guarded by ``ConsentRequired``: a consent whose time is up is recorded as expired (one service call)
    before the permission decides — permissions only decide."""

    def check_permissions(self, request: Request) -> None:
        token = request.auth
        if token is not None:
            # Logs of the rest of this request say which TPP and consent it served (ids only).
            log_context_bind(tpp=getattr(token, "application_id", None), consent_id=getattr(token, "consent_id", None))
        if getattr(token, "consent_id", None) is not None:
            consent_expire_if_due(consent=token.consent)
        super().check_permissions(request)  # type: ignore[misc]


class ConsentAPIView(ConsentExpiryRecorded, APIView):
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
                    request_id=request_id_for(request),
                )
            )
        return response

    def get_account(self, request: Request, account_id: str) -> Any:
        return selectors.account_get_for_consent(consent=request.consent, account_id=parse_uuid(account_id))
