"""UK Open Banking (OBIE) Read/Write API v3.1.11 — Account and Transaction API constants."""

from __future__ import annotations

API_PREFIX = "/open-banking/v3.1/aisp"
CLIENT_CREDENTIALS_SCOPE = "accounts"
AUTHORIZE_SCOPE = "accounts"

PERMISSIONS = (
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadTransactionsBasic",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
    "ReadTransactionsDetail",
)

# OBExternalAccountSubType1Code → aggregator Account.Type
ACCOUNT_TYPES = {
    "CurrentAccount": "current",
    "Savings": "savings",
    "CreditCard": "credit_card",
    "ChargeCard": "credit_card",
    "Loan": "loan",
    "Mortgage": "loan",
}

# OBBalanceType1Code → aggregator Balance.Type, in order of preference: when a bank sends both a closing and
# an interim figure of the same kind, the earlier entry wins (banks differ in which one they publish).
BALANCE_TYPES = {
    "ClosingBooked": "booked",
    "InterimBooked": "booked",
    "ClosingAvailable": "available",
    "InterimAvailable": "available",
    "Expected": "expected",
    "OpeningBooked": "opening_booked",
    "ForwardAvailable": "other",
}
BALANCE_PREFERENCE = {name: rank for rank, name in enumerate(BALANCE_TYPES)}

# Account identification schemes, without the v3 namespace (v2 banks send the bare names).
SCHEME_NAMESPACE = "UK.OBIE."
SCHEME_SORT_CODE = "SortCodeAccountNumber"
SCHEME_BBAN = "BBAN"
SCHEME_IBAN = "IBAN"
SCHEME_PAN = "PAN"

# OBError1.ErrorCode values meaning the consent is gone and the user must authorise again.
REAUTH_ERROR_CODES = frozenset({"UK.OBIE.Reauthenticate", "UK.OBIE.Resource.InvalidConsentStatus"})

# --- Payment Initiation API v3.1.11 -----------------------------------------------------------------------
PIS_PREFIX = "/open-banking/v3.1/pisp"
PAYMENTS_SCOPE = "payments"
IDEMPOTENCY_KEY_MAX = 40  # x-idempotency-key: maxLength 40
REFERENCE_MAX = 35  # RemittanceInformation.Reference
UNSTRUCTURED_MAX = 140  # RemittanceInformation.Unstructured
# (URL segment, id field of the payment resource)
DOMESTIC = ("domestic", "DomesticPaymentId")
DOMESTIC_SCHEDULED = ("domestic-scheduled", "DomesticScheduledPaymentId")

# OBWriteDomesticResponse5 / OBWriteDomesticScheduledResponse5 Status → our payment status.
PAYMENT_STATUSES = {
    "Pending": "pending",
    "AcceptedSettlementInProcess": "accepted",
    "AcceptedWithoutPosting": "accepted",
    "AcceptedSettlementCompleted": "settled",
    "AcceptedCreditSettlementCompleted": "settled",
    "Rejected": "rejected",
    "InitiationPending": "pending",
    "InitiationCompleted": "settled",
    "InitiationFailed": "rejected",
    "Cancelled": "rejected",
}
