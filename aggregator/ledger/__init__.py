"""The tamper-evident ledger (RFC 9162 Merkle log of consent, token, payment and data-access events)."""
