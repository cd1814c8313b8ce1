"""Domain events: what happened in the domain, published by services, consumed by subscribers.

Services call :func:`publish` with a :class:`DomainEvent`; they never import a subscriber. Subscribers (the TPP
webhooks today, the ledger and payments later) connect with :func:`subscribe` in their ``AppConfig.ready()``.

Delivery is synchronous and inside the publisher's database transaction: a subscriber that must not lose an
event (an outbox row) writes it atomically with the change; one that talks to the outside world defers that
work with ``transaction.on_commit`` so nothing is announced for a rolled-back change. A subscriber's exception
propagates to the publisher (and rolls its change back), so subscribers that must never block the domain catch
their own errors.

The shape, agreed once for every producer and consumer:

* ``name`` — dotted, past tense: ``sync.completed``, ``connection.reauth_required``, ``consent.status_changed``
  (later ``payment.…``, ``token.…``);
* ``subject_type`` / ``subject_id`` — what it is about and its public id (never a database key);
* ``data`` — JSON-ready facts (strings, numbers, booleans, lists, dicts); no personal data in clear;
* ``occurred_at`` (aware UTC) and ``event_id`` (a UUID, for de-duplication).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.dispatch import Signal
from django.utils import timezone

__all__ = ["DomainEvent", "Subscriber", "publish", "subscribe", "unsubscribe"]


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    name: str
    subject_type: str
    subject_id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    occurred_at: datetime = field(default_factory=timezone.now)
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


Subscriber = Callable[[DomainEvent], None]

_domain_event = Signal()


def subscribe(subscriber: Subscriber, *, dispatch_uid: str | None = None) -> None:
    """Call ``subscriber(event)`` for every published event (kept alive; idempotent per ``dispatch_uid``)."""

    def receiver(sender: Any, *, event: DomainEvent, **kwargs: Any) -> None:
        subscriber(event)

    uid = dispatch_uid or f"{subscriber.__module__}.{subscriber.__qualname__}"
    _domain_event.connect(receiver, weak=False, dispatch_uid=uid)


def unsubscribe(dispatch_uid: str) -> None:
    _domain_event.disconnect(dispatch_uid=dispatch_uid)


def publish(event: DomainEvent) -> None:
    """Hand ``event`` to every subscriber now, in the caller's transaction."""
    _domain_event.send(sender=DomainEvent, event=event)
