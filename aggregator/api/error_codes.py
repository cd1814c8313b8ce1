"""Every ``errors[].code`` the third-party API can answer, in one place.

The table "Errors at a glance" in ``docs/tpp-quickstart.md`` lists exactly these codes, and
``tests/api/test_error_codes.py`` keeps three things equal: the codes raised in the API's source (``ApiError``,
``code=…``, ``default_code``, the per-status defaults of :mod:`aggregator.api.errors`), the field-validation codes
of the request serializers, and this registry and that table. A new code is added here and to the table.
"""

from __future__ import annotations

__all__ = ["API_ERROR_CODES", "FIELD_VALIDATION_CODES"]

# Field-level validation codes (``400``, with ``errors[].field``) produced by DRF's fields in our request
# serializers (query parameters of the data API, the body of ``POST /api/v1/consents``).
FIELD_VALIDATION_CODES: dict[str, str] = {
    "invalid": "the value is malformed (also a cursor that is invalid or was issued for another resource)",
    "required": "a required field is missing",
    "null": "the field may not be null",
    "blank": "the field may not be blank",
    "empty": "the list may not be empty",
    "not_a_list": "a list was expected",
    "min_value": "the number is too small",
    "max_value": "the number is too large",
    "min_length": "the value or list is too short",
    "max_length": "the value or list is too long",
    "max_string_length": "the number's text is too long",
    "max_digits": "the amount has too many digits",
    "max_decimal_places": "the amount has too many decimal places",
    "max_whole_digits": "the amount has too many digits before the decimal point",
    "invalid_choice": "not one of the allowed values",
    "date": "a date was given where a datetime is expected",
    "datetime": "a datetime was given where a date is expected",
    "make_aware": "the datetime is invalid in the server's time zone",
    "overflow": "the datetime is out of range",
}

# status → {code: meaning}. Statuses and codes as in docs/tpp-quickstart.md ("Errors at a glance").
API_ERROR_CODES: dict[int, dict[str, str]] = {
    400: {
        "bad_request": "the request is malformed",
        "parse_error": "the JSON body could not be parsed",
        "unknown_permission": "a consent asks for a permission other than accounts, balances, transactions, insights",
        "idempotency_key_missing": "POST /payments without an Idempotency-Key header",
        "idempotency_key_invalid": "an Idempotency-Key that is not 1 to 255 visible ASCII characters",
        "instruction_mismatch": "a payment whose body differs from its consent's instruction (amount, payee…)",
        "payments_not_supported": "a payment consent fixing a debtor account at a bank without payments",
        "category_unknown": "PATCH of a transaction with a category outside the taxonomy",
        "category_not_correctable": "PATCH of the category of a transaction without a counterparty (cash)",
        **FIELD_VALIDATION_CODES,
    },
    401: {
        "not_authenticated": "no bearer token was sent",
        "token_invalid": "the token is unknown or expired",
        "consent_revoked": "the consent behind the token was revoked",
        "consent_expired": "the consent behind the token has expired",
        "invalid_dpop_proof": "a DPoP-bound token without a valid DPoP proof (see WWW-Authenticate)",
        "use_dpop_nonce": "the DPoP proof lacks the server nonce: retry with the DPoP-Nonce header's value",
    },
    403: {
        "permission_denied": "not allowed",
        "permission_missing": "the consent or the token lacks the permission, or the token is of the wrong kind",
        "consent_required": "a data endpoint was called with a token issued without a consent",
        "reconfirmation_required": "the user has not reconfirmed the consent within 90 days (UK); access resumes "
        "once they do",
    },
    404: {
        "not_found": "no such object, or not part of your consent; an unknown path names the API's paths",
        "consent_not_found": "no such consent for your app",
        "payment_consent_not_found": "no such payment consent for your token",
        "payment_not_found": "no such payment for your token",
    },
    405: {"method_not_allowed": "wrong HTTP method (see the Allow header)"},
    406: {"not_acceptable": "send Accept: application/json"},
    409: {
        "conflict": "the request conflicts with the resource's state",
        "connection_unavailable": "refresh with no active bank connection",
        "consent_not_active": "DELETE of a consent that is already rejected or expired",
        "payment_consent_not_authorised": "a payment (or funds check) under a payment consent not authorised (now)",
        "payment_consent_consumed": "a second payment under a payment consent that already made one",
        "payment_consent_expired": "a payment under a payment consent past its expiry",
        "not_supported": "funds confirmation at a bank that does not offer it",
    },
    413: {"request_too_large": "the body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)"},
    414: {"uri_too_long": "the path and query string are longer than 4,096 bytes"},
    415: {"unsupported_media_type": "send Content-Type: application/json"},
    422: {
        "unprocessable": "the request cannot be processed as sent",
        "idempotency_key_reused": "an Idempotency-Key used before with a different body",
    },
    429: {
        "throttled": "too many requests (see Retry-After)",
        "bank_limit_reached": "the bank's own limit of unattended refreshes is used up (see Retry-After)",
        "unattended_limit_reached": "a data type asked for is at its regulatory limit of unattended access (4 per "
        "account per 24 hours at UK and EU banks, RTS Art. 36(5)); see Retry-After, or refresh with the user present",
    },
    431: {"header_too_large": "a header is larger than 8,192 bytes, or there are more than 64 headers"},
    500: {"server_error": "our fault: quote the request_id"},
    503: {
        "temporarily_unavailable": "the database is busy, or the DPoP replay check is unavailable; retry after the "
        "Retry-After header",
        "bank_unavailable": "the bank could not answer a funds confirmation just now",
    },
}
