"""GDPR data-subject rights (Art. 15, 17, 20), retention and purpose limitation (docs/privacy.md).

An upper-layer package: it reads every layer below (data domain, consent, webhooks, ledger) to export or erase
everything about one person, and enforces the retention periods of ``AGGREGATOR["RETENTION_*"]``.
"""
