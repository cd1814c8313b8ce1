"""Every state change of a consent. Each transition appends one immutable ``ConsentEvent``.

Lifecycle: ``awaiting_authorisation → authorised | rejected | expired``; ``authorised → revoked | expired``.
Revoking or expiring a consent ends every token issued under it in the same database transaction.

Within ``authorised``: when refresh-token reuse revokes the TPP's last live token family, the consent records it
(``tokens_revoked_at``/``tokens_revoked_reason`` and a ``tokens_revoked`` event); the same user may then authorise
the same consent again (``reauthorised`` event), which clears the mark and lets the TPP get new tokens.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import clear_expired

from aggregator.conf import aggregator_settings
from aggregator.domain_events import DomainEvent, publish
from aggregator.models import Account, Connection
from aggregator.payments.consents import payment_consent_create, payment_consent_end
from aggregator.payments.models import PaymentConsent
from providers.conf import provider_settings

from .clocks import consent_clocks_start, consent_revocation_data_delete
from .conf import consent_settings
from .models import AccessToken, Consent, ConsentEvent, Grant, PushedAuthorizationRequest, RefreshToken
from .selectors import awaiting_authorisation_ttl, consent_time_is_up

if TYPE_CHECKING:
    from .models import Application

__all__ = [
    "ConsentStateError",
    "consent_authorise",
    "consent_code_replayed",
    "consent_create",
    "consent_create_for_payment",
    "consent_expire",
    "consent_expire_if_due",
    "consent_reject",
    "consent_revoke",
    "consent_tokens_revoked",
    "consents_expire_due",
    "max_consent_days",
    "oauth_clear_expired",
    "token_issued",
    "token_revoked",
]

# A consent nobody approves within this window expires (the authorisation link goes stale).

Status = Consent.Status
Actor = ConsentEvent.Actor


class ConsentStateError(ValidationError):
    """The requested transition is not allowed from the consent's current status."""


def max_consent_days() -> int:
    return int(provider_settings.CONSENT_MAX_DAYS)


def _transition(
    *,
    consent: Consent,
    to_status: str,
    allowed_from: Iterable[str],
    actor_type: str,
    actor_user: Any = None,
    reason: str = "",
    extra_fields: Iterable[str] = (),
) -> ConsentEvent:
    """Lock the row, check the transition, save the new status and append its event."""
    locked = Consent.objects.select_for_update().get(pk=consent.pk)
    from_status = locked.status
    if from_status not in allowed_from:
        raise ConsentStateError(
            f"Consent {consent.pk} is {from_status}; it cannot become {to_status}.", code="invalid_transition"
        )
    now = timezone.now()
    consent.status = to_status
    consent.status_changed_at = now
    consent.save(update_fields=["status", "status_changed_at", "updated_at", *extra_fields])
    event = ConsentEvent.objects.create(
        consent=consent,
        actor_type=actor_type,
        actor_user=actor_user,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        event_id=uuid.uuid4(),
    )
    _publish_consent_event(event=event, name="consent.status_changed", occurred_at=now)
    return event


def _publish_consent_event(*, event: ConsentEvent, name: str, occurred_at: dt.datetime, **data: Any) -> None:
    """Publish the domain event of a ``ConsentEvent`` row under the row's ``event_id`` (the ledger links them)."""
    publish(
        DomainEvent(
            name=name,
            subject_type="consent",
            subject_id=str(event.consent_id),
            data={
                "from_status": event.from_status,
                "to_status": event.to_status,
                "actor_type": event.actor_type,
                **data,
            },
            occurred_at=occurred_at,
            event_id=event.event_id,
        )
    )


def _end_tokens(*, consent: Consent, reason: str = "") -> None:
    """Stop every token of the consent at once. Rows are kept so a later request can be told *why* it failed.
    With a ``reason``, a ``token.revoked`` event says so when any live token was ended."""
    now = timezone.now()
    ended = AccessToken.objects.filter(consent=consent, expires__gt=now).update(expires=now)
    ended += RefreshToken.objects.filter(consent=consent, revoked__isnull=True).update(revoked=now)
    Grant.objects.filter(consent=consent).delete()
    if reason and ended:
        token_revoked(consent=consent, application=consent.application, kind="all", reason=reason)


def token_issued(*, token: AccessToken, grant_type: str = "") -> None:
    """Announce an access token (and its refresh token) just issued: ``token.issued`` about its consent (or, for
    a client-credentials token, its app). Facts only — client, scope, expiry — never the token."""
    application = token.application
    kinds = ["access_token"] + (["refresh_token"] if RefreshToken.objects.filter(access_token=token).exists() else [])
    subject = ("consent", str(token.consent_id)) if token.consent_id else ("application", application.client_id)
    publish(
        DomainEvent(
            name="token.issued",
            subject_type=subject[0],
            subject_id=subject[1],
            data={
                "client_id": application.client_id,
                "scope": token.scope,
                "token_kinds": kinds,
                "grant_type": grant_type,
                "expires_at": token.expires.isoformat() if token.expires else None,
            },
        )
    )


def token_revoked(
    *, consent: Consent | None, application: Application, kind: str, reason: str, event_id: uuid.UUID | None = None
) -> None:
    """Announce revoked tokens: ``kind`` is ``access_token``, ``refresh_token`` or ``all`` (every token of the
    consent); ``reason`` e.g. ``client_request`` (RFC 7009), ``consent_revoked``, ``refresh_token_reuse``."""
    subject = ("consent", str(consent.pk)) if consent is not None else ("application", application.client_id)
    publish(
        DomainEvent(
            name="token.revoked",
            subject_type=subject[0],
            subject_id=subject[1],
            data={"client_id": application.client_id, "token_kind": kind, "reason": reason},
            event_id=event_id or uuid.uuid4(),
        )
    )


@transaction.atomic
def consent_create(
    *,
    application: Application,
    permissions: Iterable[str],
    expires_at: dt.datetime,
    transactions_from: dt.datetime | None = None,
    transactions_to: dt.datetime | None = None,
) -> Consent:
    """A TPP asks for access; the consent waits for the user's authorisation."""
    perms = list(dict.fromkeys(permissions))
    valid = set(Consent.DATA_PERMISSIONS)
    errors: dict[str, list[ValidationError | str]] = {}
    if not perms:
        errors["permissions"] = ["At least one permission is required."]
    unknown = sorted({str(p) for p in perms if p not in valid})
    if unknown:
        allowed = ", ".join(Consent.DATA_PERMISSIONS)
        message = f"Unknown permission(s): {', '.join(unknown)}. Allowed: {allowed}."
        errors["permissions"] = [ValidationError(message, code="unknown_permission")]
    now = timezone.now()
    if expires_at <= now:
        errors["expires_at"] = ["expires_at must be in the future."]
    elif expires_at > now + dt.timedelta(days=max_consent_days()):
        errors["expires_at"] = [f"expires_at may be at most {max_consent_days()} days from now."]
    if transactions_from and transactions_to and transactions_from > transactions_to:
        errors["transactions_from"] = ["transactions_from must not be after transactions_to."]
    if errors:
        raise ValidationError(errors)
    consent = Consent.objects.create(
        application=application,
        permissions=[p for p in Consent.DATA_PERMISSIONS if p in perms],
        expires_at=expires_at,
        transactions_from=transactions_from,
        transactions_to=transactions_to,
        status_changed_at=now,
    )
    event = ConsentEvent.objects.create(
        consent=consent, actor_type=Actor.TPP, to_status=Status.AWAITING_AUTHORISATION, event_id=uuid.uuid4()
    )
    _publish_consent_event(
        event=event, name="consent.status_changed", occurred_at=now, permissions=list(consent.permissions)
    )
    return consent


def _end_payment_consent(*, consent: Consent, to_status: str, reason: str) -> None:
    """A payment consent's OAuth consent ended before its payment: the payment consent ends with it (a consumed
    one keeps its payment)."""
    if consent.payment_consent_id is None:
        return
    payment_consent = PaymentConsent.objects.get(pk=consent.payment_consent_id)
    endable = [PaymentConsent.Status.AWAITING_AUTHORISATION]
    if to_status != PaymentConsent.Status.REJECTED:
        endable.append(PaymentConsent.Status.AUTHORISED)
    if payment_consent.status in endable:
        payment_consent_end(consent=payment_consent, to_status=to_status, detail=reason[:300])


@transaction.atomic
def consent_create_for_payment(
    *, application: Application, instruction: dict[str, Any], debtor_account: Account | None = None
) -> Consent:
    """A TPP asks for one payment: the payment consent (``aggregator.payments``: the instruction, validated there)
    and its OAuth side, a consent with permission ``payments`` only and the same id. The token issued under it
    may make that payment and read it (for ``PAYMENT_ACCESS_DAYS``)."""
    payment_consent = payment_consent_create(
        client_id=application.client_id, instruction=instruction, debtor_account=debtor_account
    )
    now = timezone.now()
    consent = Consent.objects.create(
        id=payment_consent.public_id,
        application=application,
        permissions=[Consent.Permission.PAYMENTS.value],
        expires_at=now + dt.timedelta(days=int(aggregator_settings.PAYMENT_ACCESS_DAYS)),
        payment_consent=payment_consent,
        status_changed_at=now,
    )
    ConsentEvent.objects.create(consent=consent, actor_type=Actor.TPP, to_status=Status.AWAITING_AUTHORISATION)
    return consent


@transaction.atomic
def consent_authorise(*, consent: Consent, user: Any, accounts: Iterable[Account]) -> Consent:
    """The user approves, sharing exactly ``accounts`` — each must be one of the user's own active accounts."""
    account_ids = {a.pk for a in accounts}
    if not account_ids:
        raise ValidationError({"accounts": ["Choose at least one account to share."]}, code="no_accounts")
    own = Account.objects.filter(
        pk__in=account_ids,
        connection__user=user,
        connection__status=Connection.Status.ACTIVE,
        removed_at__isnull=True,
    )
    if own.count() != len(account_ids):
        raise ValidationError({"accounts": ["Some accounts are not yours or not available."]}, code="foreign_account")
    if consent.status == Status.AUTHORISED:
        return _consent_reauthorise(consent=consent, user=user, accounts=own)
    if consent.expires_at <= timezone.now() or consent.created_at <= timezone.now() - awaiting_authorisation_ttl():
        raise ConsentStateError("This consent request has expired.", code="expired")
    consent.user = user
    consent.authorised_at = timezone.now()
    # The compliance clocks (UK reconfirmation, US one-year cap) start with the authorisation.
    clock_fields = consent_clocks_start(consent=consent, accounts=own.select_related("connection__institution"))
    _transition(
        consent=consent,
        to_status=Status.AUTHORISED,
        allowed_from=[Status.AWAITING_AUTHORISATION],
        actor_type=Actor.USER,
        actor_user=user,
        extra_fields=["user", "authorised_at", *clock_fields],
    )
    consent.accounts.set(own)
    return consent


def _consent_reauthorise(*, consent: Consent, user: Any, accounts: Any) -> Consent:
    """The consent's own user approves it again after its tokens were revoked (see the module docstring)."""
    locked = Consent.objects.select_for_update().get(pk=consent.pk)
    if locked.status != Status.AUTHORISED or locked.tokens_revoked_at is None:
        raise ConsentStateError("This consent is already authorised.", code="invalid_transition")
    if locked.user_id != getattr(user, "pk", None):
        raise ConsentStateError("This consent was authorised by another user.", code="foreign_consent")
    if locked.expires_at <= timezone.now():
        raise ConsentStateError("This consent has expired.", code="expired")
    reason = f"Authorised again after its tokens were revoked ({locked.tokens_revoked_reason})."
    consent.authorised_at = timezone.now()
    consent.tokens_revoked_at = None
    consent.tokens_revoked_reason = ""
    # Authorising again confirms the consent anew: its clocks restart (never extending a US authorisation's year
    # beyond the new authorisation).
    clock_fields = consent_clocks_start(consent=consent, accounts=accounts.select_related("connection__institution"))
    consent.save(
        update_fields=["authorised_at", "tokens_revoked_at", "tokens_revoked_reason", "updated_at", *clock_fields]
    )
    consent.accounts.set(accounts)
    event = ConsentEvent.objects.create(
        consent=consent,
        kind=ConsentEvent.Kind.REAUTHORISED,
        actor_type=Actor.USER,
        actor_user=user,
        from_status=Status.AUTHORISED,
        to_status=Status.AUTHORISED,
        reason=reason,
        event_id=uuid.uuid4(),
    )
    # The user confirms the consent again: the ledger's "reconfirmed" event.
    _publish_consent_event(event=event, name="consent.reconfirmed", occurred_at=consent.authorised_at)
    return consent


@transaction.atomic
def consent_tokens_revoked(*, consent: Consent, reason: str, detail: str = "") -> Consent:
    """Record that the TPP's tokens of an authorised consent were revoked (e.g. ``refresh_token_reuse``).

    Always appends a ``tokens_revoked`` event; marks the consent (``tokens_revoked_at``, shown to the user and the
    TPP) only when no live refresh token of it is left, i.e. the TPP really cannot read any more."""
    locked = Consent.objects.select_for_update().get(pk=consent.pk)
    now = timezone.now()
    event = ConsentEvent.objects.create(
        consent=locked,
        kind=ConsentEvent.Kind.TOKENS_REVOKED,
        actor_type=Actor.SYSTEM,
        from_status=locked.status,
        to_status=locked.status,
        reason=f"{reason}: {detail}" if detail else reason,
        event_id=uuid.uuid4(),
    )
    token_revoked(consent=locked, application=locked.application, kind="all", reason=reason, event_id=event.event_id)
    live = RefreshToken.objects.filter(consent=locked, revoked__isnull=True).exists()
    if locked.status == Status.AUTHORISED and not live:
        Consent.objects.filter(pk=locked.pk).update(tokens_revoked_at=now, tokens_revoked_reason=reason, updated_at=now)
        consent.tokens_revoked_at, consent.tokens_revoked_reason = now, reason
    return consent


@transaction.atomic
def consent_code_replayed(*, consent: Consent) -> Consent:
    """An authorization code of this consent was presented again after its exchange (RFC 6749 §4.1.2): someone
    else may hold it, so every token of the consent ends now and the consent records why."""
    _end_tokens(consent=consent)
    return consent_tokens_revoked(
        consent=consent,
        reason="authorization_code_reuse",
        detail="an already exchanged authorization code was presented again; every token of the consent was revoked",
    )


@transaction.atomic
def consent_reject(*, consent: Consent, user: Any, reason: str = "") -> Consent:
    """The user denies the request."""
    consent.user = user
    _transition(
        consent=consent,
        to_status=Status.REJECTED,
        allowed_from=[Status.AWAITING_AUTHORISATION],
        actor_type=Actor.USER,
        actor_user=user,
        reason=reason,
        extra_fields=["user"],
    )
    _end_payment_consent(consent=consent, to_status=PaymentConsent.Status.REJECTED, reason=reason or "rejected")
    return consent


@transaction.atomic
def consent_revoke(*, consent: Consent, actor_type: str, actor_user: Any = None, reason: str = "") -> Consent:
    """Withdraw an authorised consent (user, TPP or staff) and end all of its tokens now."""
    if actor_type not in Actor.values:
        raise ValueError(f"unknown actor type {actor_type!r}")
    _transition(
        consent=consent,
        to_status=Status.REVOKED,
        # A TPP may also withdraw a request nobody has answered yet.
        allowed_from=[Status.AUTHORISED]
        + ([Status.AWAITING_AUTHORISATION] if actor_type in {Actor.TPP, Actor.STAFF} else []),
        actor_type=actor_type,
        actor_user=actor_user,
        reason=reason,
    )
    _end_tokens(consent=consent, reason="consent_revoked")
    _end_payment_consent(consent=consent, to_status=PaymentConsent.Status.REVOKED, reason=reason or "revoked")
    consent_revocation_data_delete(consent=consent)  # US: the data obtained under it goes (docs/compliance.md)
    return consent


@transaction.atomic
def consent_expire(*, consent: Consent, reason: str = "") -> Consent:
    """The system ends a consent whose time is up (or an authorisation request nobody answered)."""
    _transition(
        consent=consent,
        to_status=Status.EXPIRED,
        allowed_from=[Status.AUTHORISED, Status.AWAITING_AUTHORISATION],
        actor_type=Actor.SYSTEM,
        reason=reason or "Consent period ended.",
    )
    _end_tokens(consent=consent, reason="consent_expired")
    _end_payment_consent(consent=consent, to_status=PaymentConsent.Status.EXPIRED, reason=reason or "expired")
    return consent


def consent_expire_if_due(*, consent: Consent, now: dt.datetime | None = None) -> Consent:
    """Record the expiry of an authorised consent whose time is up (the request that notices it does); the
    consent as it now stands. Idempotent; a consent that ended meanwhile is reloaded."""
    if consent_time_is_up(consent=consent, now=now):
        try:
            consent_expire(consent=consent, reason="Consent period ended (detected on request).")
        except ConsentStateError:
            consent.refresh_from_db()
    return consent


def consents_expire_due(*, now: dt.datetime | None = None) -> int:
    """Expire authorised consents past ``expires_at`` and awaiting ones older than the TTL. Idempotent."""
    now = now or timezone.now()
    due = Consent.objects.filter(status=Status.AUTHORISED, expires_at__lte=now) | Consent.objects.filter(
        status=Status.AWAITING_AUTHORISATION, expires_at__lte=now
    )
    stale = Consent.objects.filter(
        status=Status.AWAITING_AUTHORISATION, created_at__lte=now - awaiting_authorisation_ttl()
    )
    count = 0
    for consent in (due | stale).distinct().iterator():
        reason = (
            "Consent period ended." if consent.expires_at <= now else "Not authorised within the authorisation window."
        )
        try:
            consent_expire(consent=consent, reason=reason)
        except ConsentStateError:
            continue  # changed concurrently; nothing to do
        count += 1
    return count


def oauth_clear_expired() -> None:
    """Delete expired authorization codes (exchanged or not), expired access tokens without a refresh token, and
    refresh tokens past REFRESH_TOKEN_EXPIRE_SECONDS (revoked ones are kept that long for reuse detection):
    django-oauth-toolkit's ``cleartokens``, in batches; and pushed authorization requests nobody can use any more
    (past their lifetime plus the time a claiming browser keeps them). Idempotent."""
    clear_expired()
    unusable_before = timezone.now() - dt.timedelta(seconds=int(consent_settings.PAR_CLAIMED_LIFETIME_SECONDS))
    PushedAuthorizationRequest.objects.filter(expires_at__lt=unusable_before).delete()
