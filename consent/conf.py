"""Options of the consent app, read as ``consent_settings.AWAITING_TTL_MINUTES`` (defaults declared once here;
deployments set ``settings.CONSENT`` from the environment)."""

from __future__ import annotations

from typing import Any

from providers.conf import AppSettings

__all__ = ["CONSENT_DEFAULTS", "consent_settings"]

CONSENT_DEFAULTS: dict[str, Any] = {
    # Unanswered authorisation requests expire after this many minutes.
    "AWAITING_TTL_MINUTES": 30,
    # Sign-in protection (consent/login_guard.py). Failures are counted in a sliding window of
    # LOGIN_LOCKOUT_SECONDS. From the LOGIN_MAX_FAILURES-th failure of one username at one client address, that
    # username is refused from that address for LOGIN_BACKOFF_SECONDS, doubled per further failure, at most
    # LOGIN_LOCKOUT_SECONDS.
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_LOCKOUT_SECONDS": 15 * 60,
    "LOGIN_BACKOFF_SECONDS": 30,
    # Past this many failures from one address (any username), or on one username (any address), a sign-in must
    # carry a solved proof-of-work challenge of LOGIN_CHALLENGE_BITS bits (about 2^bits SHA-256 hashes).
    "LOGIN_CHALLENGE_ADDRESS_FAILURES": 20,
    "LOGIN_CHALLENGE_USERNAME_FAILURES": 10,
    "LOGIN_CHALLENGE_BITS": 16,
}

consent_settings = AppSettings("CONSENT", CONSENT_DEFAULTS)
