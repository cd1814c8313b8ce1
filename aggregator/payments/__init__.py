"""Payment initiation (PIS), data domain: payment consents, payments, their event trail, the bank calls (an
outbox: the bank call is made by a task, retried with the bank's own idempotency key) and reconciliation with the
synced transactions. The TPP API (``aggregator.api.payments``) and the consent screen (``consent``) sit above."""
