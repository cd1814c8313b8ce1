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

# --- payment initiation (PIS) ------------------------------------------------------------------------
SCT = "sepa-credit-transfers"
SCT_INSTANT = "instant-sepa-credit-transfers"
PAYMENT_SCOPE_PREFIX = "PIS:"
# The namespace of the X-Request-IDs derived from our idempotency keys (uuid5: the same key → the same id).
REQUEST_ID_NAMESPACE = "6f1d9a52-5d0c-4d7e-9c55-3c1b6f0e2a11"
# ISO 20022 ExternalPaymentTransactionStatus1Code → our payment status.
PAYMENT_STATUSES = {
    "RCVD": "pending",
    "PDNG": "pending",
    "PATC": "pending",
    "PART": "pending",
    "ACTC": "accepted",
    "ACCP": "accepted",
    "ACFC": "accepted",
    "ACSP": "accepted",
    "ACWC": "accepted",
    "ACWP": "accepted",
    "ACSC": "settled",
    "ACCC": "settled",
    "RJCT": "rejected",
    "CANC": "rejected",
}
