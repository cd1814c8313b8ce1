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
    # --- FAPI 2.0 (consent/fapi/, docs/security.md) ---
    # Every TPP is treated as a FAPI 2.0 client whatever its registered profile (production recommendation).
    "FAPI2_REQUIRED": False,
    # Lifetime of a pushed authorization request's request_uri (RFC 9126 expires_in; must be below 600).
    "PAR_LIFETIME_SECONDS": 60,
    # Once claimed by a browser, how long that browser may keep using it (login, connecting a bank).
    "PAR_CLAIMED_LIFETIME_SECONDS": 30 * 60,
    # private_key_jwt: the longest accepted assertion lifetime (exp - iat, or exp - now without iat), and clock skew.
    "CLIENT_ASSERTION_MAX_LIFETIME_SECONDS": 300,
    "CLOCK_SKEW_SECONDS": 10,
    # Signing algorithms accepted in client assertions and DPoP proofs (FAPI 2.0 §5.4: PS256, ES256, EdDSA).
    "SIGNING_ALGORITHMS": ["PS256", "ES256", "EdDSA"],
    # JWKS fetched from a TPP's jwks_uri: cached this long, at most this large, within this time.
    "JWKS_URI_CACHE_SECONDS": 300,
    "JWKS_URI_MAX_BYTES": 64 * 1024,
    "JWKS_URI_TIMEOUT_SECONDS": 5.0,
    # DPoP proofs: iat within this many seconds of now (either way); server nonces required, rotating this often.
    "DPOP_IAT_WINDOW_SECONDS": 60,
    "DPOP_NONCE_REQUIRED": True,
    "DPOP_NONCE_LIFETIME_SECONDS": 300,
}

consent_settings = AppSettings("CONSENT", CONSENT_DEFAULTS)
