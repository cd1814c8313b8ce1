"""THE isolation and OAuth negative matrices (issue 17): one row per request, data only.

Adding an endpoint under ``/api/`` or ``/oauth/`` means adding its rows here — ``test_matrix.py`` fails, naming
the URL pattern, while a pattern has no row (or no line in ``NOT_IN_MATRIX`` saying why it needs none).

Isolation rows — ``Case(url name, method, path params, actor, expected status)``: path params name objects of
``world.py`` (``"bob.account"``; ``"unknown"`` is a well-formed id of nothing); the actor is a token of
``world.py`` (``"a@alice"``: TPP A's consent for alice; ``"a:cc"``: TPP A's client-credentials token; ``None``: no
token). Whatever the status, no response body may contain the id of an object the actor must not see
(``World.foreign_ids``).

OAuth rows — ``OAuthCase(url name, method, form data, client, expected status, expected RFC 6749 error)``:
``client`` is ``"a"``/``"b"`` (HTTP Basic with the TPP's right secret), ``"a:wrong"`` (wrong secret),
``"unknown"``, or ``None`` (no client authentication). ``{token:a@alice}`` in a value is replaced by that
token; ``still_valid`` names a token that must still work afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ALLOWED_ROW_ELSEWHERE", "ISOLATION", "NOT_IN_MATRIX", "OAUTH", "Case", "OAuthCase"]


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: dict[str, str]
    actor: str | None
    status: int

    def __str__(self) -> str:
        params = ",".join(f"{k}={v}" for k, v in self.path.items())
        return f"{self.method} {self.name}({params}) as {self.actor} -> {self.status}"


@dataclass(frozen=True)
class OAuthCase:
    name: str
    method: str
    data: dict[str, str]
    client: str | None
    status: int
    error: str | None
    still_valid: str | None = None
    note: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.method} {self.name} {self.note or self.data} as {self.client} -> {self.status} {self.error}"


ACC, TXN, BAL = "api:account-detail", "api:account-transactions", "api:account-balances"

ISOLATION: list[Case] = [
    # --- accounts -------------------------------------------------------------------------------------------
    Case("api:account-list", "GET", {}, "a@alice", 200),
    Case("api:account-list", "GET", {}, "b@alice", 200),
    Case("api:account-list", "GET", {}, "a@bob", 200),
    Case("api:account-list", "GET", {}, "a:cc", 403),
    Case("api:account-list", "GET", {}, "a@alice.revoked", 401),
    Case("api:account-list", "GET", {}, "expired", 401),
    Case("api:account-list", "GET", {}, None, 401),
    Case(ACC, "GET", {"account_id": "alice.shared"}, "a@alice", 200),
    Case(ACC, "GET", {"account_id": "alice.shared"}, "b@alice", 200),
    Case(ACC, "GET", {"account_id": "alice.private"}, "a@alice", 404),
    Case(ACC, "GET", {"account_id": "bob.account"}, "a@alice", 404),
    Case(ACC, "GET", {"account_id": "alice.shared"}, "a@bob", 404),
    Case(ACC, "GET", {"account_id": "unknown"}, "a@alice", 404),
    Case(ACC, "GET", {"account_id": "alice.shared"}, "a:cc", 403),
    Case(ACC, "GET", {"account_id": "alice.shared"}, "a@alice.revoked", 401),
    Case(ACC, "GET", {"account_id": "alice.shared"}, None, 401),
    Case(BAL, "GET", {"account_id": "alice.shared"}, "a@alice", 200),
    Case(BAL, "GET", {"account_id": "alice.shared"}, "a@alice.balances", 200),
    Case(BAL, "GET", {"account_id": "alice.private"}, "a@alice", 404),
    Case(BAL, "GET", {"account_id": "bob.account"}, "a@alice", 404),
    Case(BAL, "GET", {"account_id": "alice.shared"}, "a@bob", 404),
    Case(BAL, "GET", {"account_id": "alice.shared"}, "a:cc", 403),
    Case(BAL, "GET", {"account_id": "alice.shared"}, None, 401),
    Case(TXN, "GET", {"account_id": "alice.shared"}, "a@alice", 200),
    Case(TXN, "GET", {"account_id": "alice.shared"}, "a@alice.balances", 403),
    Case(TXN, "GET", {"account_id": "alice.private"}, "a@alice", 404),
    Case(TXN, "GET", {"account_id": "bob.account"}, "a@alice", 404),
    Case(TXN, "GET", {"account_id": "alice.shared"}, "a@bob", 404),
    Case(TXN, "GET", {"account_id": "alice.shared"}, "a@alice.revoked", 401),
    Case(TXN, "GET", {"account_id": "alice.shared"}, "a:cc", 403),
    # --- the delta feed (the leak check does the work: only the consent's accounts appear) -------------------
    Case("api:transaction-sync", "GET", {}, "a@alice", 200),
    Case("api:transaction-sync", "GET", {}, "b@alice", 200),
    Case("api:transaction-sync", "GET", {}, "a@bob", 200),
    Case("api:transaction-sync", "GET", {}, "a@alice.balances", 403),
    Case("api:transaction-sync", "GET", {}, "a@alice.revoked", 401),
    Case("api:transaction-sync", "GET", {}, "a:cc", 403),
    Case("api:transaction-sync", "GET", {}, None, 401),
    # --- syncs ----------------------------------------------------------------------------------------------
    Case("api:syncrun-detail", "GET", {"sync_id": "alice.sync"}, "a@alice", 200),
    Case("api:syncrun-detail", "GET", {"sync_id": "alice.sync"}, "b@alice", 200),  # same bank connection
    Case("api:syncrun-detail", "GET", {"sync_id": "bob.sync"}, "a@alice", 404),
    Case("api:syncrun-detail", "GET", {"sync_id": "alice.sync"}, "a@bob", 404),
    Case("api:syncrun-detail", "GET", {"sync_id": "unknown"}, "a@alice", 404),
    Case("api:syncrun-detail", "GET", {"sync_id": "alice.sync"}, "a:cc", 403),
    Case("api:syncrun-detail", "GET", {"sync_id": "alice.sync"}, "a@alice.revoked", 401),
    Case("api:consent-refresh", "POST", {"consent_id": "alice.consent_a"}, "a@alice", 202),
    Case("api:consent-refresh", "POST", {"consent_id": "alice.consent_b"}, "a@alice", 404),
    Case("api:consent-refresh", "POST", {"consent_id": "bob.consent_a"}, "a@alice", 404),
    Case("api:consent-refresh", "POST", {"consent_id": "alice.consent_a"}, "b@alice", 404),
    Case("api:consent-refresh", "POST", {"consent_id": "alice.consent_a"}, "a:cc", 403),
    Case("api:consent-refresh", "POST", {"consent_id": "alice.consent_a_revoked"}, "a@alice.revoked", 401),
    Case("api:consent-refresh", "POST", {"consent_id": "alice.consent_a"}, None, 401),
    # --- the consent resource -------------------------------------------------------------------------------
    Case("api:consent-list", "GET", {}, "a:cc", 200),
    Case("api:consent-list", "GET", {}, "b:cc", 200),
    Case("api:consent-list", "GET", {}, "a@alice", 403),
    Case("api:consent-list", "GET", {}, None, 401),
    Case("api:consent-current", "GET", {}, "a@alice", 200),
    Case("api:consent-current", "GET", {}, "b@alice", 200),
    Case("api:consent-current", "GET", {}, "a@alice.revoked", 401),
    Case("api:consent-current", "GET", {}, "a:cc", 403),
    Case("api:consent-current", "GET", {}, None, 401),
    Case("api:consent-detail", "GET", {"consent_id": "alice.consent_a"}, "a:cc", 200),
    Case("api:consent-detail", "GET", {"consent_id": "alice.consent_b"}, "a:cc", 404),
    Case("api:consent-detail", "GET", {"consent_id": "alice.consent_a"}, "b:cc", 404),
    Case("api:consent-detail", "GET", {"consent_id": "unknown"}, "a:cc", 404),
    Case("api:consent-detail", "GET", {"consent_id": "alice.consent_a"}, "a@alice", 403),
    Case("api:consent-detail", "GET", {"consent_id": "alice.consent_a"}, None, 401),
    Case("api:consent-detail", "DELETE", {"consent_id": "alice.consent_b"}, "a:cc", 404),
    Case("api:consent-detail", "DELETE", {"consent_id": "alice.consent_a"}, "b:cc", 404),
    Case("api:consent-detail", "DELETE", {"consent_id": "alice.consent_a"}, "a@alice", 403),
    Case("api:consent-detail", "DELETE", {"consent_id": "bob.consent_a"}, "a:cc", 204),
    # --- insights: recurring streams under `transactions`, income and risk signals under `insights` -----------
    Case("api:transaction-detail", "GET", {"transaction_id": "alice.shared.txn"}, "a@alice", 200),
    Case("api:transaction-detail", "GET", {"transaction_id": "alice.private.txn"}, "a@alice", 404),
    Case("api:transaction-detail", "GET", {"transaction_id": "alice.shared.txn"}, "a@bob", 404),
    Case("api:transaction-detail", "GET", {"transaction_id": "alice.shared.txn"}, "a@alice.balances", 403),
    Case("api:transaction-detail", "GET", {"transaction_id": "alice.shared.txn"}, "a:cc", 403),
    Case("api:transaction-detail", "GET", {"transaction_id": "alice.shared.txn"}, None, 401),
    Case("api:recurring-list", "GET", {}, "a@alice", 200),
    Case("api:recurring-list", "GET", {}, "a@alice.balances", 403),
    Case("api:recurring-list", "GET", {}, "a:cc", 403),
    Case("api:recurring-list", "GET", {}, None, 401),
    Case("api:income", "GET", {}, "a@alice.insights", 200),
    Case("api:income", "GET", {}, "a@alice", 403),
    Case("api:income", "GET", {}, "a:cc", 403),
    Case("api:income", "GET", {}, None, 401),
    Case("api:risk-signal-list", "GET", {}, "a@alice.insights", 200),
    Case("api:risk-signal-list", "GET", {}, "a@alice.balances", 403),
    Case("api:risk-signal-list", "GET", {}, "a:cc", 403),
    Case("api:risk-signal-list", "GET", {}, None, 401),
    # --- payments: a data token can never pay or read payments; nobody reads another TPP's ------------------
    Case("api:payment-consent-list", "POST", {}, "a@alice", 403),
    Case("api:payment-consent-list", "POST", {}, None, 401),
    Case("api:payment-consent-detail", "GET", {"payment_consent_id": "alice.payment_consent"}, "a:cc", 200),
    Case("api:payment-consent-detail", "GET", {"payment_consent_id": "alice.payment_consent"}, "b:cc", 404),
    Case("api:payment-consent-detail", "GET", {"payment_consent_id": "unknown"}, "a:cc", 404),
    Case("api:payment-consent-detail", "GET", {"payment_consent_id": "unknown"}, "a@alice", 403),
    Case("api:payment-consent-detail", "GET", {"payment_consent_id": "unknown"}, None, 401),
    Case("api:payment-consent-funds", "GET", {"payment_consent_id": "alice.payment_consent"}, "a:cc", 403),
    Case("api:payment-consent-funds", "GET", {"payment_consent_id": "unknown"}, "a@alice", 403),
    Case("api:payment-consent-funds", "GET", {"payment_consent_id": "unknown"}, None, 401),
    Case("api:payment-list", "POST", {}, "a@alice", 403),
    Case("api:payment-list", "POST", {}, "a:cc", 403),
    Case("api:payment-list", "POST", {}, None, 401),
    Case("api:payment-detail", "GET", {"payment_id": "alice.payment"}, "a:cc", 200),
    Case("api:payment-detail", "GET", {"payment_id": "alice.payment"}, "b:cc", 404),
    Case("api:payment-detail", "GET", {"payment_id": "unknown"}, "a:cc", 404),
    Case("api:payment-detail", "GET", {"payment_id": "unknown"}, "a@alice", 403),
    Case("api:payment-detail", "GET", {"payment_id": "unknown"}, None, 401),
]

TOKEN, REVOKE = "consent:token", "consent:revoke-token"
CC = {"grant_type": "client_credentials"}
PASSWORD = {"grant_type": "password", "username": "alice"}
PW = "correct horse battery staple"  # tests.factories.UserFactory's
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
CODE = {"grant_type": "authorization_code", "redirect_uri": "http://tpp.example/callback", "code_verifier": "v" * 43}

OAUTH: list[OAuthCase] = [
    OAuthCase(TOKEN, "POST", {**CC, "scope": "consents"}, "a", 200, None),
    OAuthCase(TOKEN, "POST", CC, "a:wrong", 401, "invalid_client"),
    OAuthCase(TOKEN, "POST", CC, "unknown", 401, "invalid_client"),
    OAuthCase(TOKEN, "POST", CC, None, 401, "invalid_client"),
    OAuthCase(TOKEN, "POST", {**CC, "scope": "accounts"}, "a", 400, "invalid_scope"),
    # The password grant is not allowed to any TPP, even with the user's right password.
    OAuthCase(TOKEN, "POST", {**PASSWORD, "password": PW}, "a", 400, "unauthorized_client"),
    OAuthCase(TOKEN, "POST", {**PASSWORD, "password": "x"}, "a", 400, "invalid_grant"),
    OAuthCase(TOKEN, "POST", {"grant_type": DEVICE, "device_code": "x"}, "a", 400, "unsupported_grant_type"),
    OAuthCase(TOKEN, "POST", {"grant_type": "implicit"}, "a", 400, "unsupported_grant_type"),
    OAuthCase(TOKEN, "POST", {}, "a", 400, "unsupported_grant_type"),
    OAuthCase(TOKEN, "POST", {**CODE, "code": "forged"}, "a", 400, "invalid_grant"),
    OAuthCase(TOKEN, "POST", {"grant_type": "refresh_token", "refresh_token": "forged"}, "a", 400, "invalid_grant"),
    # TPP B presents TPP A's refresh token: refused, and A's token keeps working.
    OAuthCase(
        TOKEN, "POST", {"grant_type": "refresh_token", "refresh_token": "{refresh:a@alice}"}, "b", 400,
        "invalid_grant", still_valid="a@alice",
    ),
    OAuthCase(TOKEN, "GET", {}, None, 405, None),
    # RFC 7009: revoking a token of another client answers 200 and leaves the token alone.
    OAuthCase(REVOKE, "POST", {"token": "{token:a@alice}"}, "b", 200, None, still_valid="a@alice"),
    OAuthCase(REVOKE, "POST", {"token": "{token:a@alice}"}, "a:wrong", 401, "invalid_client", still_valid="a@alice"),
    OAuthCase(REVOKE, "POST", {"token": "{token:a@alice}"}, None, 401, "invalid_client", still_valid="a@alice"),
    OAuthCase(REVOKE, "POST", {"token": "forged"}, "a", 200, None),
    OAuthCase(REVOKE, "GET", {}, "a", 405, None),
    # Pushed authorization requests (RFC 9126) need client authentication like the token endpoint.
    OAuthCase("consent:par", "POST", {"response_type": "code"}, "a:wrong", 401, "invalid_client"),
    OAuthCase("consent:par", "POST", {"response_type": "code"}, None, 401, "invalid_client"),
    OAuthCase("consent:par", "GET", {}, "a", 405, None),
    # The authorize endpoint is the user's browser page (HTML by design): anonymous users go to the login page.
    OAuthCase("consent:authorize", "GET", {"response_type": "code", "client_id": "{client_id:a}"}, None, 302, None),
]  # fmt: skip

# Patterns whose successful request needs more than a token and a path (a body and a bank), so their allowed row
# lives in the test named here; this matrix keeps their refusals.
ALLOWED_ROW_ELSEWHERE: dict[str, str] = {
    "api:payment-consent-list": "tests/payments/test_api.py (a TPP creates a payment consent: 201)",
    "api:payment-consent-funds": "tests/payments/test_api.py (funds confirmation at the fake bank)",
    "api:payment-list": "tests/payments/test_api.py (a payment under an authorised payment consent: 201)",
}

# URL patterns under /api/ or /oauth/ that need no row, and why.
NOT_IN_MATRIX: dict[str, str] = {
    "api-schema": "the public OpenAPI document: no data, no token (abuse suite: no 5xx, never HTML errors)",
    "api-docs": "the public Swagger UI page over the schema (HTML by design)",
    "consent:payment-callback": "the bank's redirect back to the user's browser after its SCA (a page, HTML by "
    "design); it acts only on a state it issued (tests/payments)",
}
