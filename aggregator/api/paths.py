"""Forgiving paths for machine clients: ``/api/v1/accounts/`` and ``/oauth/token`` work as well.

The data API's paths have no trailing slash and the OAuth2 endpoints (django-oauth-toolkit's) have one. Clients
get this wrong all the time, and Django's ``APPEND_SLASH`` only helps a ``GET`` (a ``POST`` to ``/oauth/token``
is a ``RuntimeError`` in debug, and nothing helps ``/api/v1/accounts/``). :class:`ApiPathMiddleware` serves the
other spelling of the same route in place (no redirect, so ``POST`` bodies and ``Authorization`` headers are kept),
under ``/api/`` and ``/oauth/`` only. An unknown path under ``/api/`` is a JSON ``404`` that names the closest of
the API's paths.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve

from .errors import json_error_response

__all__ = ["ApiPathMiddleware", "api_paths"]

_PREFIXES = ("/api/", "/oauth/")
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


@functools.cache
def api_paths() -> tuple[str, ...]:
    """Every route under ``/api/`` as a template, e.g. ``/api/v1/accounts/{account_id}/balances``."""
    found: list[str] = []

    def walk(patterns: list, prefix: str) -> None:  # type: ignore[type-arg]
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/"):
                found.append("/" + _CONVERTER.sub(r"{\1}", route).lstrip("^").rstrip("$"))

    walk(get_resolver().url_patterns, "")
    return tuple(sorted(set(found)))


def _not_found(request: HttpRequest) -> HttpResponse:
    templates = api_paths()
    # Compare shapes: ids in the request become {…} like the templates' parameters.
    shape = re.sub(r"/[0-9a-fA-F-]{32,36}(?=/|$)", "/{id}", request.path)
    normalised = {re.sub(r"\{\w+\}", "{id}", t): t for t in templates}
    close = [normalised[m] for m in difflib.get_close_matches(shape, list(normalised), n=3, cutoff=0.6)]
    if close:
        message = f"No such path {request.path!r}. Did you mean {' or '.join(repr(c) for c in close)}?"
    else:
        message = f"No such path {request.path!r}. The API's paths are listed at /api/docs/ (schema: /api/schema/)."
    return json_error_response(request, 404, "not_found", message)


class ApiPathMiddleware:
    """Serve ``/api/…/`` and ``/oauth/…`` as their canonical spelling; name the right path in an API ``404``.

    Installed before ``CommonMiddleware`` so that ``APPEND_SLASH`` never sees these paths.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(_PREFIXES) and not _resolves(path):
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            if _resolves(other):
                request.path_info = other
                request.path = request.path[: len(request.path) - len(path)] + other
            elif path.startswith("/api/"):
                return _not_found(request)
        return self.get_response(request)
