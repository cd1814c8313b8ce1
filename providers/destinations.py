"""Where we may send requests that a third party chose (webhook URLs): never into our own network.

A third party registers a URL; we later POST to it from inside our infrastructure. Without a check that is a
server-side request forgery: ``http://169.254.169.254/`` (cloud metadata), ``http://localhost:6379``, a private
address, or a public name that *resolves* to one — at registration or only later (DNS rebinding). So:

* :func:`destination_check` — at registration: an absolute ``https`` URL (``http`` too where private
  destinations are allowed), no credentials in it, and every address the host resolves to is public;
* :func:`destination_resolve` — at send time: resolve again, refuse if any address is not public, and return
  one address to *pin*: the caller connects to that address (``Host`` header and TLS SNI keep the name), so the
  name cannot resolve to something else between the check and the connection.

Private destinations (loopback, private ranges, link-local, …) are allowed only where
``provider_settings.ALLOW_PRIVATE_DESTINATIONS`` is true: local and test runs, where TPPs listen on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from .conf import provider_settings

__all__ = ["DestinationError", "PinnedDestination", "destination_check", "destination_resolve"]


class DestinationError(ValueError):
    """The URL may not be used as a destination; the message says why (safe to show to its owner)."""


@dataclass(frozen=True)
class PinnedDestination:
    url: str  # the URL with the host replaced by the pinned address
    host: str  # the original host name (Host header, TLS SNI)
    address: str


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _parts(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationError(f"{url!r} is not a valid URL.") from exc
    allow_private = bool(provider_settings.ALLOW_PRIVATE_DESTINATIONS)
    schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in schemes or not parts.hostname:
        raise DestinationError(f"The URL must be an absolute {' or '.join(sorted(schemes))} URL.")
    if parts.username or parts.password:
        raise DestinationError("The URL must not contain credentials.")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _addresses(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DestinationError(f"The host {host!r} cannot be resolved.") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise DestinationError(f"The host {host!r} cannot be resolved.")
    return addresses


def _checked(url: str) -> tuple[str, str, list[str]]:
    """The scheme, host and resolved addresses; no resolution where any address is allowed anyway."""
    scheme, host, port = _parts(url)
    if provider_settings.ALLOW_PRIVATE_DESTINATIONS:
        return scheme, host, []
    addresses = _addresses(host, port)
    private = [a for a in addresses if not _is_public(a)]
    if private:
        raise DestinationError(
            f"The host {host!r} resolves to a non-public address ({private[0]}); use a public https endpoint."
        )
    return scheme, host, addresses


def destination_check(url: str) -> str:
    """``url`` if it may be registered as a destination; :class:`DestinationError` otherwise."""
    _checked(url)
    return url


def destination_resolve(url: str) -> PinnedDestination:
    """Check ``url`` again now and pin one of its addresses for this request (nothing to pin where private
    destinations are allowed: the URL is used as it is)."""
    _scheme, host, addresses = _checked(url)
    if not addresses:
        return PinnedDestination(url=url, host=host, address="")
    address = addresses[0]
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    return PinnedDestination(url=parts._replace(netloc=netloc).geturl(), host=host, address=address)
