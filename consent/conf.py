"""Options of the consent app, read as ``consent_settings.AWAITING_TTL_MINUTES`` (defaults declared once here;
deployments set ``settings.CONSENT`` from the environment)."""

from __future__ import annotations

from typing import Any

from providers.conf import AppSettings

__all__ = ["CONSENT_DEFAULTS", "consent_settings"]

CONSENT_DEFAULTS: dict[str, Any] = {
    # Unanswered authorisation requests expire after this many minutes.
    "AWAITING_TTL_MINUTES": 30,
    # Failed logins allowed per (client IP, username) within LOGIN_LOCKOUT_SECONDS.
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_LOCKOUT_SECONDS": 15 * 60,
}

consent_settings = AppSettings("CONSENT", CONSENT_DEFAULTS)
