"""Options of the ledger, read as ``ledger_settings.ORIGIN`` (defaults declared once here; deployments set
``settings.LEDGER`` from the environment, see ``aggregator/config/settings.py``)."""

from __future__ import annotations

from typing import Any

from providers.conf import AppSettings

__all__ = ["LEDGER_DEFAULTS", "ledger_settings"]

LEDGER_DEFAULTS: dict[str, Any] = {
    # First line of every checkpoint (C2SP tlog-checkpoint "origin"), and the signing key's name.
    "ORIGIN": "localhost/open-banking-aggregator/ledger",
    # Ed25519 private key: base64 of the 32-byte seed. Empty: derived from SECRET_KEY (local and test runs only;
    # settings refuse that in production).
    "SIGNING_KEY": "",
    # A checkpoint is signed once this many leaves were appended since the last one…
    "CHECKPOINT_EVERY_LEAVES": 256,
    # …or when the tree grew and the last one is this old (the periodic sweep signs it).
    "CHECKPOINT_EVERY_SECONDS": 300,
    # Outbox rows appended per sequencer transaction.
    "APPEND_BATCH": 1000,
    # Most leaves one GET /ledger/leaves answers.
    "LEAVES_PAGE_MAX": 256,
    # Domain events logged: exact names, and prefixes ending in "." (every payment event).
    "EVENTS": [
        "consent.status_changed",
        "consent.reconfirmed",
        "token.issued",
        "token.revoked",
        "data.accessed",
        "payment.",
    ],
    # Keys of an event's data that are personal: the leaf holds a salted commitment, never the value.
    "COMMITTED_FIELDS": [
        "user_id",
        "username",
        "email",
        "iban",
        "account_number",
        "debtor_account",
        "creditor_account",
        "creditor_name",
        "debtor_name",
        "remittance_information",
        "ip_address",
    ],
}

ledger_settings = AppSettings("LEDGER", LEDGER_DEFAULTS)
