"""The client's IP address, one rule for every caller (login lockouts, audit rows of the bank-connect flow).

Behind no proxy (``TRUSTED_PROXY_COUNT = 0``, the default) it is ``REMOTE_ADDR`` and nothing the client sends can
change it. Behind N reverse proxies of ours, each appending the address it received the request from to
``CLIENT_IP_HEADER`` (``X-Forwarded-For`` by default), the client is the N-th entry from the right: entries further
left were written by the client itself and are not trusted. A header with fewer entries than N (a request that
did not pass every proxy) yields its left-most entry; a value that is not an IP address yields ``REMOTE_ADDR``.
"""

from __future__ import annotations

import ipaddress

from django.http import HttpRequest

from .conf import aggregator_settings

__all__ = ["client_address", "header_meta_key"]


def header_meta_key(header: str) -> str:
    """``X-Forwarded-For`` → ``HTTP_X_FORWARDED_FOR`` (a name already in ``request.META`` form is kept)."""
    key = header.strip().upper().replace("-", "_")
    return key if key.startswith("HTTP_") or key == "REMOTE_ADDR" else f"HTTP_{key}"


def _valid(value: str) -> str | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.7:51234"
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str:
    """The address of the client that sent ``request`` (see the module docstring); ``""`` if none is known."""
    remote = str(request.META.get("REMOTE_ADDR", "") or "")
    proxies = int(aggregator_settings.TRUSTED_PROXY_COUNT)
    if proxies <= 0:
        return remote
    raw = request.META.get(header_meta_key(str(aggregator_settings.CLIENT_IP_HEADER)), "")
    hops = [hop for hop in (part.strip() for part in str(raw).split(",")) if hop]
    if not hops:
        return remote
    return _valid(hops[-min(proxies, len(hops))]) or remote
