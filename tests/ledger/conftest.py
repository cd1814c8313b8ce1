from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _ledger_settings(settings):  # type: ignore[no-untyped-def]
    settings.LEDGER = {"ORIGIN": "test.example/ledger", "CHECKPOINT_EVERY_LEAVES": 16, "APPEND_BATCH": 1000}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def publish_events(n: int, *, name: str = "payment.initiated", start: int = 0) -> list:
    """``n`` logged domain events (payment events need no rows of ours)."""
    from aggregator.domain_events import DomainEvent, publish

    events = [
        DomainEvent(name=name, subject_type="payment", subject_id=f"pay-{start + i}", data={"amount": f"{i}.00"})
        for i in range(n)
    ]
    for event in events:
        publish(event)
    return events
