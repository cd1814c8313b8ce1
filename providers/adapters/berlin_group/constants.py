"""Berlin Group NextGenPSD2 v1.3.11 (XS2A) — AIS constants."""

from __future__ import annotations

API_PREFIX = "/v1"
FREQUENCY_PER_DAY = 4  # what we ask for in the consent; the bank enforces it for unattended access
HISTORY_FROM = "2000-01-01"  # dateFrom of a first, full-history listing

# ISO 20022 ExternalCashAccountType1Code → aggregator Account.Type
ACCOUNT_TYPES = {
    "CACC": "current",
    "CASH": "current",
    "TRAN": "current",
    "SVGS": "savings",
    "MOMA": "savings",
    "CARD": "credit_card",
    "LOAN": "loan",
    "MGLD": "loan",
}

BALANCE_TYPES = {
    "closingBooked": "booked",
    "interimAvailable": "available",
    "expected": "expected",
    "interimBooked": "interim_booked",
    "openingBooked": "opening_booked",
    "forwardAvailable": "other",
    "nonInvoiced": "other",
}

# tppMessages codes: the consent is gone → the user must authorise again.
REAUTH_CODES = frozenset({"CONSENT_EXPIRED", "CONSENT_INVALID", "CONSENT_UNKNOWN"})
# The access token was refused → refresh and retry.
TOKEN_CODES = frozenset({"TOKEN_EXPIRED", "TOKEN_INVALID", "TOKEN_UNKNOWN"})
ACCESS_EXCEEDED = "ACCESS_EXCEEDED"
