"""Registering third-party apps (used by ``create_tpp`` and the admin)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from oauth2_provider.generators import generate_client_secret

from providers.credentials import token_rotate
from providers.destinations import DestinationError, destination_check

from .fapi.jwks import JwksError, jwks_uri_validate, jwks_validate
from .models import Application

__all__ = [
    "RegisteredTpp",
    "client_keys_validate",
    "redirect_uri_validate",
    "tpp_create",
    "webhook_secrets_rotate_all",
]


@dataclass(frozen=True)
class RegisteredTpp:
    application: Application
    client_id: str
    client_secret: str  # plaintext, shown once; only a hash is stored; empty for FAPI 2.0 clients


def redirect_uri_validate(uri: str) -> str:
    """Exact, absolute redirect URIs; https only outside local/test; no fragments or wildcards."""
    parts = urlsplit(uri)
    allowed = {"https"} if settings.DJANGO_ENV not in {"local", "test"} else {"https", "http"}
    if parts.scheme not in allowed or not parts.netloc:
        raise ValidationError(
            f"Redirect URI {uri!r} must be an absolute {' or '.join(sorted(allowed))} URL.", code="redirect_uri"
        )
    if parts.fragment or "*" in uri or " " in uri:
        raise ValidationError(f"Redirect URI {uri!r} must not contain a fragment, spaces or wildcards.")
    return uri


def webhook_url_validate(url: str) -> str:
    """A webhook URL we may POST to: https, resolving only to public addresses (``providers.destinations``:
    loopback and private ones too in local and test runs)."""
    try:
        return destination_check(url)
    except DestinationError as exc:
        raise ValidationError({"webhook_url": [str(exc)]}, code="webhook_url") from exc


def client_keys_validate(*, profile: str, jwks: object, jwks_uri: str) -> None:
    """A FAPI 2.0 client registers its public keys (a JWKS inline or a ``jwks_uri``, not both); a baseline client
    may register some too (then it may also use ``private_key_jwt``)."""
    if jwks and jwks_uri:
        raise ValidationError("Register the keys inline (jwks) or by URL (jwks_uri), not both.", code="jwks")
    if profile == Application.Profile.FAPI2 and not (jwks or jwks_uri):
        raise ValidationError("A FAPI 2.0 client needs its public keys: a JWKS or a jwks_uri.", code="jwks")
    try:
        if jwks:
            jwks_validate(jwks)
        if jwks_uri:
            jwks_uri_validate(jwks_uri)
    except JwksError as exc:
        raise ValidationError(str(exc), code="jwks") from exc


@transaction.atomic
def tpp_create(
    *,
    name: str,
    redirect_uris: list[str],
    webhook_url: str = "",
    webhook_secret: str = "",
    profile: str = Application.Profile.BASELINE,
    jwks: dict | None = None,
    jwks_uri: str = "",
) -> RegisteredTpp:
    """A confidential authorization-code client (client credentials allowed for scope ``consents``).

    ``profile="fapi2"``: a FAPI 2.0 client with ``jwks`` or ``jwks_uri`` (``private_key_jwt``); it gets no client
    secret (an unusable random one is stored, hashed: DOT's model wants one)."""
    if not name.strip():
        raise ValidationError("A name is required.")
    if not redirect_uris:
        raise ValidationError("At least one redirect URI is required.")
    if profile not in Application.Profile.values:
        raise ValidationError(f"The profile must be one of {', '.join(Application.Profile.values)}.")
    uris = [redirect_uri_validate(u) for u in redirect_uris]
    if webhook_url:
        webhook_url_validate(webhook_url)
    client_keys_validate(profile=profile, jwks=jwks, jwks_uri=jwks_uri)
    secret = generate_client_secret()
    app = Application(
        name=name.strip(),
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(uris),
        client_secret=secret,
        hash_client_secret=True,
        skip_authorization=False,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        profile=profile,
        jwks=jwks or None,
        jwks_uri=jwks_uri,
    )
    app.full_clean(exclude=["user", "client_secret"])
    app.save()
    shown = "" if profile == Application.Profile.FAPI2 else secret
    return RegisteredTpp(application=app, client_id=app.client_id, client_secret=shown)


@transaction.atomic
def webhook_secrets_rotate_all() -> int:
    """Re-encrypt every stored webhook secret with the newest CREDENTIAL_KEYS key; returns how many."""
    count = 0
    rows = Application.objects.select_for_update().exclude(webhook_secret_encrypted="").order_by("pk")
    for pk, token in rows.values_list("pk", "webhook_secret_encrypted"):
        Application.objects.filter(pk=pk).update(webhook_secret_encrypted=token_rotate(token))
        count += 1
    return count
