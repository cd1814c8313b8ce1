"""Connecting a user's bank: the upstream OAuth redirect flow, from start to a synced ``Connection``.

``connection_connect_start`` asks the bank's adapter for an authorization (bank-side consent, PKCE, state),
keeps what must survive the round trip server-side (``PendingAuthorization``, encrypted) and returns the bank's
authorize URL. ``connection_connect_complete`` takes the bank's redirect back (``state`` + ``code`` or
``error``), checks the state belongs to this user and is fresh and unused, exchanges the code, stores the
encrypted credentials on the user's connection to that institution (reusing an existing one: reconnecting a
``reauth_required`` connection keeps its accounts and history), lists the accounts and queues the first sync.

The views (``aggregator.connections.views``) and ``manage.py sandbox_connect`` both go through these two functions.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from providers.base import (
    AuthorizationRequest,
    ClientRejectedError,
    ProviderError,
    ReauthRequiredError,
    TransientProviderError,
)
from providers.credentials import decrypt_text, encrypt_text
from providers.oauth_errors import oauth_error
from providers.registry import adapter_for

from ..compliance.sca import connection_sca_recorded
from ..models import Connection, Institution
from ..sync.accounts import accounts_upsert
from ..sync.services import sync_request
from .credentials import credentials_store
from .models import PendingAuthorization

__all__ = [
    "AUTHORIZATION_TTL",
    "ConnectError",
    "connection_connect_complete",
    "connection_connect_start",
    "safe_next_url",
]

logger = logging.getLogger(__name__)

AUTHORIZATION_TTL = timedelta(minutes=15)


class ConnectError(Exception):
    """The connect flow cannot go on; ``code`` is machine-readable, the message is safe to show the user."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def _bank_failure(institution: Institution, exc: ProviderError, *, code: str, message: str) -> ConnectError:
    """The ConnectError for a bank's refusal or failure: a refusal of our client registration is told apart
    from an unreachable bank (the operator must act; the details are in ``__cause__`` and the log)."""
    logger.warning("connect failed at %s: %s (%s)", institution.slug, exc, exc.code)
    if isinstance(exc, ClientRejectedError):
        return ConnectError(
            "bank_client_rejected",
            f"{institution.name} refused this service's registration ({exc.code}), so it cannot be connected "
            "right now. The operator has to fix it.",
            status=502,
        )
    return ConnectError(code, message, status=502)


def safe_next_url(next_url: str) -> str:
    """``next_url`` when it is a local path (``/me/…``), else empty: never an open redirect."""
    next_url = (next_url or "").strip()
    if not next_url.startswith("/") or next_url.startswith("//") or "\\" in next_url:
        return ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts=set(), require_https=False):
        return ""
    return next_url[:500]


def connection_connect_start(
    *, user: Any, institution: Institution, redirect_uri: str, next_url: str = "", psu_ip_address: str = ""
) -> str:
    """Start connecting ``user`` to ``institution``; returns the bank's authorize URL to redirect the user to."""
    if not institution.is_active:
        raise ConnectError("institution_inactive", f"{institution.name} cannot be connected at the moment.")
    adapter = adapter_for(institution, psu_ip_address=psu_ip_address)
    try:
        auth = adapter.start_authorization(redirect_uri=redirect_uri, user_hint="")
    except ProviderError as exc:
        raise _bank_failure(
            institution,
            exc,
            code="bank_unavailable",
            message=f"{institution.name} could not be reached. Please try again later.",
        ) from exc
    payload = {"code_verifier": auth.code_verifier, "consent_id": auth.consent_id, "extra": dict(auth.extra)}
    # Housekeeping: abandoned authorizations older than a day are of no use to anyone.
    PendingAuthorization.objects.filter(expires_at__lt=timezone.now() - timedelta(days=1)).delete()
    PendingAuthorization.objects.create(
        state=auth.state,
        user=user,
        institution=institution,
        redirect_uri=redirect_uri,
        next_url=safe_next_url(next_url),
        payload=encrypt_text(json.dumps(payload)),
        expires_at=timezone.now() + AUTHORIZATION_TTL,
    )
    return auth.url


def _claim(*, state: str, user: Any) -> PendingAuthorization:
    """The pending authorization for ``state``, marked used (once only, this user only, not expired)."""
    if not state:
        raise ConnectError("invalid_state", "The bank's answer is missing its state. Please start again.")
    with transaction.atomic():
        pending = (
            PendingAuthorization.objects.select_for_update()
            .select_related("institution")
            .filter(state=state[:128])
            .first()
        )
        if pending is None or pending.user_id != user.pk:
            raise ConnectError("invalid_state", "This bank authorization is unknown. Please start again.")
        if pending.used_at is not None:
            raise ConnectError("state_used", "This bank authorization was already used. Please start again.")
        if pending.expires_at <= timezone.now():
            raise ConnectError("state_expired", "This bank authorization took too long. Please start again.")
        pending.used_at = timezone.now()
        pending.save(update_fields=["used_at"])
    return pending


def connection_connect_complete(
    *,
    state: str,
    code: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
    user: Any,
    sync: bool = True,
    psu_ip_address: str = "",
) -> Connection:
    """Finish a connect flow from the bank's redirect; returns the active, credentialed connection.

    Raises ``ConnectError`` (safe message) when the state is wrong, the user refused at the bank, or the bank
    failed. The ``PendingAuthorization`` is spent either way (codes are single-use)."""
    pending = _claim(state=state, user=user)
    institution = pending.institution
    if error:
        if error in {"access_denied", "consent_rejected"}:
            raise ConnectError("bank_denied", "You did not authorise access at the bank.")
        reported = oauth_error(error, error_description or "")
        # (an ``invalid_request`` here is usually about the bank-side consent, not our registration)
        if error != "invalid_request" and isinstance(reported, ClientRejectedError | TransientProviderError):
            raise _bank_failure(
                institution,
                reported,
                code="bank_unavailable",
                message=f"{institution.name} had a problem ({error[:64]}). Please try again later.",
            ) from reported
        raise ConnectError("bank_error", f"The bank reported an error ({error[:64]}).") from reported
    if not code:
        raise ConnectError("missing_code", "The bank's answer is missing the authorization code. Please start again.")

    payload = json.loads(decrypt_text(pending.payload))
    auth = AuthorizationRequest(
        url="",
        state=pending.state,
        code_verifier=payload.get("code_verifier", ""),
        consent_id=payload.get("consent_id", ""),
        extra=payload.get("extra") or {},
    )
    adapter = adapter_for(institution, psu_ip_address=psu_ip_address)
    try:
        credentials = adapter.exchange_code(code=code, redirect_uri=pending.redirect_uri, auth=auth)
    except ProviderError as exc:
        raise _bank_failure(
            institution,
            exc,
            code="exchange_failed",
            message=f"{institution.name} did not accept the authorization. Please try again.",
        ) from exc
    try:
        accounts = adapter.list_accounts(credentials)
    except ReauthRequiredError as exc:
        raise ConnectError(
            "exchange_failed", f"{institution.name} refused access to the accounts.", status=502
        ) from exc
    except ProviderError as exc:
        # The first sync lists the accounts again; a transient failure here must not lose the authorization.
        logger.warning("listing accounts after connect failed at %s: %s (%s)", institution.slug, exc, exc.code)
        accounts = None

    with transaction.atomic():
        connection = (
            Connection.objects.select_for_update()
            .filter(user=user, institution=institution)
            .order_by("-created_at")
            .first()
        )
        if connection is None:
            connection = Connection(user=user, institution=institution)
        connection.status = Connection.Status.ACTIVE
        connection.last_error = ""
        connection_sca_recorded(connection)  # the user just authenticated at the bank (EU 180-day clock)
        connection.save()
        credentials_store(connection=connection, credentials=credentials)
        if accounts is not None:
            accounts_upsert(connection=connection, accounts=accounts)
        if sync:
            sync_request(connection=connection, trigger="connect", psu_ip_address=psu_ip_address)
    logger.info("connected %s to %s (connection %s)", user.pk, institution.slug, connection.public_id)
    return connection
