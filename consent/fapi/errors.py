"""Protocol errors of the FAPI pieces, each with the OAuth ``error`` code a client reads."""

from __future__ import annotations

__all__ = ["DPoPError", "OAuthProtocolError", "ReplayCheckUnavailable"]


class OAuthProtocolError(Exception):
    """An RFC 6749 §5.2-style error: ``error`` code, description, HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


class DPoPError(OAuthProtocolError):
    """A DPoP proof was missing or refused (``invalid_dpop_proof``) or needs a fresh server nonce
    (``use_dpop_nonce``: the response carries ``DPoP-Nonce``)."""


class ReplayCheckUnavailable(Exception):
    """The shared cache that remembers used ``jti`` values cannot be reached: replay protection fails closed."""
