"""Domain exceptions (Styleguide-Example's ``ApplicationError``): services and selectors raise these; they never
know HTTP. The API's one exception handler (``aggregator.api.errors``) maps each class to a status and the error
shape ``{"errors": [{"code", "message", "field"}], "request_id"}``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApplicationError",
    "ConflictError",
    "InvalidInputError",
    "LimitReachedError",
    "NotFoundError",
    "PermissionDeniedError",
    "ServiceUnavailableError",
    "UnprocessableError",
]


class ApplicationError(Exception):
    """A domain rule said no. ``code`` is machine-readable (documented), ``message`` safe to show."""

    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        self.extra = extra


class InvalidInputError(ApplicationError):
    """The input breaks a rule (a bad parameter, an unknown permission, an altered cursor)."""

    default_code = "invalid"


class NotFoundError(ApplicationError):
    """No such object, or not one the caller may see."""

    default_code = "not_found"


class PermissionDeniedError(ApplicationError):
    """The caller is known but may not do this."""

    default_code = "permission_denied"


class ConflictError(ApplicationError):
    """The object is not in a state that allows this (e.g. no active bank connection)."""

    default_code = "conflict"


class UnprocessableError(ApplicationError):
    """The request is well-formed but cannot be processed as sent (an idempotency key reused with another body)."""

    default_code = "unprocessable"


class LimitReachedError(ApplicationError):
    """A limit is used up; ``retry_after`` seconds until it frees up."""

    default_code = "limit_reached"

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailableError(ApplicationError):
    """A dependency (the task broker) is down; nothing was changed. ``retry_after`` seconds is a fair wait."""

    default_code = "temporarily_unavailable"

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
