"""What a bank's OAuth 2.0 error answer means for us: one table from the RFC 6749 error codes (§5.2 token
endpoint, §4.1.2.1 authorization endpoint) to the provider error taxonomy of ``providers.base``, each with the
remedy a person reads.

=========================== ========================= ==========================================================
error                       raised as                 meaning / remedy
=========================== ========================= ==========================================================
``invalid_client``          ``ClientRejectedError``   the bank does not know our client (or its secret): register
                                                      it / fix ``client_id``/``client_secret``
``unauthorized_client``     ``ClientRejectedError``   our client may not use this grant: fix its registration
``invalid_scope``           ``ClientRejectedError``   the bank refuses the scope we ask for: fix the ``scope``
``unsupported_grant_type``  ``ClientRejectedError``   the bank lacks the grant: adapter/bank mismatch
``unsupported_response_type`` ``ClientRejectedError`` likewise, at the authorization endpoint
``invalid_request``         ``ClientRejectedError``   a malformed request (missing/wrong parameter): a bug or a
                                                      misconfiguration on our side
``invalid_grant``           ``ReauthRequiredError``   the code or refresh token is spent, expired or revoked:
                                                      the user connects again
``access_denied``           ``ReauthRequiredError``   the user (or the bank) refused
``server_error``            ``TransientProviderError``  the bank failed: retry later
``temporarily_unavailable`` ``TransientProviderError``  likewise
anything else               ``PermanentProviderError``  recorded with the bank's words
=========================== ========================= ==========================================================

Codes (``ProviderError.code``): ``invalid_grant`` for ``invalid_grant`` (kept for its users), ``oauth_<error>``
for every other error.
"""

from __future__ import annotations

from .base import (
    ClientRejectedError,
    PermanentProviderError,
    ProviderError,
    ReauthRequiredError,
    TransientProviderError,
)

__all__ = ["OAUTH_ERRORS", "oauth_error"]

_REGISTER = (
    "register the client at the bank and set this institution's client_id/client_secret "
    "(AGGREGATOR_INSTITUTIONS); for the sandbox banks, load the demo clients with `manage.py sandbox_bootstrap`"
)

# error → (exception class, what it means and what to do; ``{client}`` is our client id)
OAUTH_ERRORS: dict[str, tuple[type[ProviderError], str]] = {
    "invalid_client": (
        ClientRejectedError,
        "the bank does not know our OAuth client {client} or refused its secret: " + _REGISTER,
    ),
    "unauthorized_client": (
        ClientRejectedError,
        "the bank does not allow our OAuth client {client} this grant type: enable it in the client's "
        "registration at the bank",
    ),
    "invalid_scope": (
        ClientRejectedError,
        "the bank refused the scope we asked for: set the institution's `scope` option to one the bank supports "
        "(its scopes_supported metadata)",
    ),
    "unsupported_grant_type": (
        ClientRejectedError,
        "the bank does not support the grant type we used: this institution needs another adapter or options",
    ),
    "unsupported_response_type": (
        ClientRejectedError,
        "the bank does not support the authorization code flow for our client {client}: check its registration",
    ),
    "invalid_request": (
        ClientRejectedError,
        "the bank says our request is malformed (a missing or invalid parameter): check the institution's "
        "options; otherwise it is an adapter bug",
    ),
    "invalid_grant": (
        ReauthRequiredError,
        "the bank refused the grant (a spent, expired or revoked code or refresh token): the user must connect "
        "the bank again",
    ),
    "access_denied": (ReauthRequiredError, "the access was refused at the bank: the user must connect again"),
    "server_error": (TransientProviderError, "the bank's authorization server failed: try again later"),
    "temporarily_unavailable": (
        TransientProviderError,
        "the bank's authorization server is temporarily unavailable: try again later",
    ),
}


def oauth_error(error: str, description: str = "", *, client_id: str = "", status: int | None = None) -> ProviderError:
    """The provider error for a bank's OAuth error answer (``error`` and ``error_description``; ``status`` is
    the HTTP status of a token endpoint answer, used when the bank sent no ``error``)."""
    error = (error or "").strip()[:64]
    if not error and status == 401:
        error = "invalid_client"  # RFC 6749 §5.2: a failed client authentication may be a bare 401
    said = f" (the bank said: {error}{': ' + description[:200] if description else ''})" if error else ""
    known = OAUTH_ERRORS.get(error)
    if known is None:
        what = error or (f"HTTP {status}" if status else "an unknown error")
        return PermanentProviderError(
            f"the bank's authorization server refused the request: {what}"
            f"{': ' + description[:200] if description else ''}",
            code=f"oauth_{error}" if error else (f"http_{status}" if status else "oauth_error"),
        )
    cls, meaning = known
    message = meaning.format(client=repr(client_id) if client_id else "").replace("  ", " ") + said
    return cls(message, code="invalid_grant" if error == "invalid_grant" else f"oauth_{error}")
