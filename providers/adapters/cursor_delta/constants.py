"""The US cursor-delta dialect (FDX / US-aggregator style) spoken by the ``liberty`` sandbox bank."""

from __future__ import annotations

AUTHORIZE_SCOPE = "accounts"
PAGE_SIZE = 500

ACCOUNT_TYPES = {
    "checking": "current",
    "current": "current",
    "depository": "current",
    "savings": "savings",
    "money market": "savings",
    "credit card": "credit_card",
    "credit_card": "credit_card",
    "credit": "credit_card",
    "loan": "loan",
    "mortgage": "loan",
}
DEBIT = "DEBIT"
CREDIT = "CREDIT"
REAUTH_ERROR_CODES = frozenset({"CONSENT_REVOKED", "CONSENT_EXPIRED", "ITEM_LOGIN_REQUIRED"})
