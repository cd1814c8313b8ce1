"""Every URL pattern of the site, from Django's URL resolver (so a new endpoint is covered without editing the
suites): its route, its name (``namespace:name``) and its path parameters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

__all__ = ["Endpoint", "endpoints"]

_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Endpoint:
    route: str  # e.g. "api/v1/accounts/<str:account_id>"
    name: str  # e.g. "api:account-detail" (the route when the pattern has no name)
    namespace: str = ""  # e.g. "api:"

    @property
    def params(self) -> dict[str, str]:
        """Path parameter name → converter (``str`` by default)."""
        return {m["name"]: m["converter"] or "str" for m in _PARAM.finditer(self.route)}

    def path(self, values: dict[str, str]) -> str:
        """The request path with each parameter replaced by ``values[name]`` (already URL-safe)."""
        return "/" + _PARAM.sub(lambda m: values[m["name"]], self.route)

    def __str__(self) -> str:
        return self.name or self.route


def _walk(patterns: list, prefix: str, namespace: str) -> Iterator[Endpoint]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            if route.startswith("^") or "(?P<" in route:
                continue  # regex routes: the admin's, whose protection is its own suite's
            name = f"{namespace}{pattern.name}" if pattern.name else route
            yield Endpoint(route=route, name=name, namespace=namespace)


def endpoints(*, under: tuple[str, ...] = ("",)) -> list[Endpoint]:
    """The site's URL patterns whose route starts with one of ``under`` — but Django's admin (``admin:`` names,
    wherever it is mounted: staff pages with their own protection and tests)."""
    found = [
        e
        for e in _walk(get_resolver().url_patterns, "", "")
        if e.route.startswith(under) and not e.namespace.startswith("admin:")
    ]
    return sorted(found, key=lambda e: e.route)
