"""Adds the ``DPoP-Nonce`` header (RFC 9449 §8, §9) to a response when DPoP checking asked for it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

__all__ = ["DPOP_NONCE_OUT_META", "DPoPNonceMiddleware"]

# request.META key: the nonce to send back (a use_dpop_nonce refusal, or a client still on the previous nonce).
DPOP_NONCE_OUT_META = "consent.dpop_nonce_out"


class DPoPNonceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        nonce = request.META.get(DPOP_NONCE_OUT_META)
        if nonce:
            response["DPoP-Nonce"] = nonce
        return response
