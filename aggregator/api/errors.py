"""One error shape for the whole third-party API, whatever went wrong and wherever.

Every error response under ``/api/`` is ``{"errors": [{"code", "message", "field"}], "request_id"}``:

* DRF exceptions (validation, authentication, permission, 404, 405, 406, 415, 429…) go through
  :func:`exception_handler` (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``); an unexpected exception inside a DRF view
  is logged and becomes a ``500`` in the same shape.
* Anything Django answers itself on an ``/api/`` path — an unknown URL (``404`` from the resolver, also with
  ``DEBUG=True``), an exception raised outside DRF (``500``), a CSRF or ``400`` page — is rewritten by
  :class:`ApiErrorMiddleware`, so the API never returns an HTML page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework import exceptions, status
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.views import set_rollback

from aggregator.db_busy import RETRY_AFTER_SECONDS, database_busy
from aggregator.exceptions import (
    ApplicationError,
    ConflictError,
    InvalidInputError,
    LimitReachedError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    UnprocessableError,
)
from aggregator.middleware import request_id_for

__all__ = [
    "API_PREFIX",
    "DOMAIN_STATUSES",
    "ApiError",
    "ApiErrorMiddleware",
    "error_body",
    "exception_handler",
    "json_error_response",
]

logger = logging.getLogger("aggregator.api")

API_PREFIX = "/api/"

# Default codes for statuses whose exception carries no specific code.
_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",
    431: "header_too_large",
    500: "server_error",
    503: "temporarily_unavailable",
}
_STATUS_MESSAGES = {
    400: "The request is malformed.",
    401: "Authentication credentials were not provided or are invalid.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    406: "The requested response format is not available; send Accept: application/json.",
    413: "The request body is too large.",
    414: "The URL is too long.",
    415: "Unsupported media type; send Content-Type: application/json.",
    422: "The request cannot be processed as sent.",
    429: "Too many requests.",
    431: "A request header is too large.",
    500: "Internal server error.",
    503: "The service is busy; retry after the Retry-After header.",
}


class ApiError(exceptions.APIException):
    """An error of the HTTP layer itself with its own status and code (domain code raises ``ApplicationError``)."""

    def __init__(self, status_code: int, code: str, message: str, *, field: str | None = None) -> None:
        self.status_code = status_code
        self.field = field
        super().__init__(detail=message, code=code)


# Domain exceptions (aggregator.exceptions) → status; the most specific class wins.
DOMAIN_STATUSES: tuple[tuple[type[ApplicationError], int], ...] = (
    (InvalidInputError, 400),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (UnprocessableError, 422),
    (LimitReachedError, 429),
    (ServiceUnavailableError, 503),
    (ApplicationError, 400),
)


def _from_domain(exc: Exception) -> Exception:
    """A domain or Django exception as the DRF exception that renders it."""
    if isinstance(exc, ApplicationError):
        status_code = next(code for cls, code in DOMAIN_STATUSES if isinstance(exc, cls))
        api_exc = ApiError(status_code, exc.code, exc.message, field=exc.field)
        if isinstance(exc, LimitReachedError | ServiceUnavailableError):
            api_exc.wait = exc.retry_after  # type: ignore[attr-defined]
        return api_exc
    if isinstance(exc, DjangoValidationError):  # a service's rule: the messages and codes as DRF would give them
        return exceptions.ValidationError(get_error_detail(exc))
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    return exc


def error_body(errors: Iterable[dict[str, Any]], request_id: str) -> dict[str, Any]:
    return {"errors": list(errors), "request_id": request_id}


def _error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "field": field}


def json_error_response(
    request: HttpRequest, status_code: int, code: str | None = None, message: str | None = None
) -> HttpResponse:
    """A plain Django response in the API error shape (for places outside DRF)."""
    body = error_body(
        [
            _error(
                code or _STATUS_CODES.get(status_code, "error"),
                message or _STATUS_MESSAGES.get(status_code, "Error."),
            )
        ],
        request_id_for(request),
    )
    response = HttpResponse(orjson.dumps(body), status=status_code, content_type="application/json")
    response["X-Request-ID"] = request_id_for(request)
    return response


def _flatten_validation(detail: Any, field: str | None = None) -> list[dict[str, Any]]:
    """DRF's nested ``{"field": [ErrorDetail…]}`` → a flat list, dotted field paths, ``None`` for non-field."""
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "detail") else str(key)
            path = f"{field}.{name}" if field and name else (name or field)
            out.extend(_flatten_validation(value, path))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                out.extend(_flatten_validation(value, f"{field}.{index}" if field else str(index)))
            else:
                out.extend(_flatten_validation(value, field))
        return out
    code = getattr(detail, "code", None) or "invalid"
    return [_error(str(code), str(detail), field)]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """``REST_FRAMEWORK["EXCEPTION_HANDLER"]``: every exception → the API error shape (never ``None``)."""
    request = context.get("request")
    request_id = request_id_for(request) if request else ""  # a DRF Request proxies the HttpRequest

    exc = _from_domain(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, exceptions.APIException):
        status_code = exc.status_code
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))  # type: ignore[attr-defined]
        if isinstance(exc, exceptions.ValidationError):
            errors = _flatten_validation(exc.detail)
        else:
            detail = exc.detail
            code = getattr(detail, "code", None) or exc.default_code
            # DRF's generic codes are replaced by one that names the status.
            if code in ("error", "invalid"):
                code = _STATUS_CODES.get(status_code, str(code))
            message = str(detail) if not isinstance(detail, dict | list) else _STATUS_MESSAGES.get(status_code, "")
            errors = [_error(str(code), message, getattr(exc, "field", None))]
        set_rollback()
    elif database_busy(exc):
        logger.warning("Database busy in API view: %s", exc, extra={"request_id": request_id})
        status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        errors = [_error(_STATUS_CODES[503], _STATUS_MESSAGES[503])]
        set_rollback()
    else:
        logger.exception("Unhandled error in API view", extra={"request_id": request_id})
        status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
        errors = [_error("server_error", _STATUS_MESSAGES[500])]
        set_rollback()

    response = Response(error_body(errors, request_id), status=status_code, headers=headers)
    response["X-Request-ID"] = request_id
    return response


class ApiErrorMiddleware:
    """Under ``/api/``: unhandled exceptions and non-JSON error pages become the JSON error shape."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith(API_PREFIX)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            replacement = json_error_response(request, response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX):
            return None
        if isinstance(exception, Http404):
            return json_error_response(request, 404)
        if isinstance(exception, DjangoPermissionDenied):
            return json_error_response(request, 403)
        if database_busy(exception):
            logger.warning("Database busy on %s: %s", request.path, exception)
            response = json_error_response(request, 503)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        logger.exception("Unhandled error on %s", request.path, exc_info=exception)
        return json_error_response(request, 500)
