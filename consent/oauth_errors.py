"""The OAuth2 endpoints a TPP's code calls (``/oauth/token/``, ``/oauth/revoke_token/``) answer JSON, always.

django-oauth-toolkit answers protocol errors itself (RFC 6749 §5.2: ``{"error", "error_description"}``), but an
exception below it — a locked SQLite database, a bug — used to become Django's HTML ``500`` page, which no OAuth
client can read. :class:`OAuthJSONErrorMiddleware` turns those into the same RFC 6749 shape:

* a busy database → ``503`` ``{"error": "temporarily_unavailable"}`` with ``Retry-After`` (the code RFC 6749
  §4.1.2.1 defines for this; clients treat it as retryable);
* any other exception → ``500`` ``{"error": "server_error"}``;
* any other non-JSON error page (a 404/405 page, a CSRF page) → ``{"error": "invalid_request"}`` with the status
  kept.

Every such response carries ``Cache-Control: no-store`` (RFC 6749 §5.1). The browser endpoint
``/oauth/authorize/`` keeps its HTML pages: a person reads those.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from aggregator.db_busy import RETRY_AFTER_SECONDS, database_busy

__all__ = ["OAuthJSONErrorMiddleware", "oauth_error_response"]

logger = logging.getLogger("consent.oauth")

_MACHINE_PATHS = ("/oauth/token", "/oauth/revoke_token", "/oauth/par")


def oauth_error_response(status: int, error: str, description: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps({"error": error, "error_description": description}), status=status, content_type="application/json"
    )
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _busy() -> HttpResponse:
    response = oauth_error_response(
        503, "temporarily_unavailable", "The server is busy; retry the request after the Retry-After header."
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class OAuthJSONErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith(_MACHINE_PATHS)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            if response.status_code == 503:
                return _busy()
            if response.status_code >= 500:
                return oauth_error_response(response.status_code, "server_error", "Internal server error.")
            replacement = oauth_error_response(
                response.status_code, "invalid_request", f"The request was refused (HTTP {response.status_code})."
            )
            if "Allow" in response:
                replacement["Allow"] = response["Allow"]
            return replacement
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(_MACHINE_PATHS):
            return None
        if database_busy(exception):
            logger.warning("Database busy on %s: %s", request.path, exception)
            return _busy()
        logger.exception("Unhandled error on %s", request.path, exc_info=exception)
        return oauth_error_response(500, "server_error", "Internal server error.")
