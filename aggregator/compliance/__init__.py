"""Regulatory rules of the regimes our banks live under (UK, EU, US), and the clock they are measured on.

``regimes`` says which rules apply to a bank (its institution's country decides; a setting can override) and
``clock`` gives the instant they are measured at. The rules themselves live beside what they govern (consent
reconfirmation in ``consent``, re-authentication and unattended access in the sync engine, data rights in
``aggregator.privacy``), each reading its numbers from here; ``docs/compliance.md`` lists them with their sources.
"""
