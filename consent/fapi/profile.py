"""Which TPPs are FAPI 2.0 clients, and our issuer identifier."""

from __future__ import annotations

from typing import Any

from oauth2_provider.settings import oauth2_settings

from ..conf import consent_settings
from ..models import Application

__all__ = ["DPOP_JKT_META", "ISSUER_META", "application_is_fapi2", "issuer_identifier", "par_required_for"]

# request.META keys our views set for the validator (oauthlib sees META as its headers). Not HTTP_*: a client
# cannot send them.
ISSUER_META = "consent.issuer"
DPOP_JKT_META = "consent.dpop_jkt"


def application_is_fapi2(application: Application) -> bool:
    """A FAPI 2.0 client: registered so, or every client when ``FAPI2_REQUIRED`` is on."""
    return bool(consent_settings.FAPI2_REQUIRED) or application.profile == Application.Profile.FAPI2


def par_required_for(application: Application | None) -> bool:
    """The authorization endpoint accepts only ``client_id`` + ``request_uri`` for this client."""
    return bool(consent_settings.FAPI2_REQUIRED) or (application is not None and application_is_fapi2(application))


def issuer_identifier(request: Any) -> str:
    """Our RFC 8414 issuer: the ``issuer`` of the metadata, the ``iss`` of authorization responses (RFC 9207, DOT's
    computation) and the only ``aud`` accepted in client assertions (FAPI 2.0)."""
    return oauth2_settings.oauth2_authorization_server_issuer(request)
