"""Webhooks to third-party apps: signed, retried with backoff, at least once, de-duplicable by event id."""
