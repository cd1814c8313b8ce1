"""Operations-page data for the ops tests: sync runs of two banks over the last week (successes with real
durations, a 429, a 5xx, a timeout, a re-authentication), a connection waiting for its user, consents moved
through their lifecycle by the consent services, and webhook deliveries (pending and given up)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from aggregator.models import Connection, SyncRun
from aggregator.webhooks.models import WebhookDelivery, WebhookEvent
from consent.services import consent_authorise, consent_revoke
from tests.factories import AccountFactory, ApplicationFactory, ConnectionFactory, ConsentFactory, InstitutionFactory

__all__ = ["ops_data"]


def _run(connection: Connection, *, hours_ago: float, seconds: float, outcome: str, code: str = "") -> SyncRun:
    queued = timezone.now() - timedelta(hours=hours_ago)
    run = SyncRun.objects.create(connection=connection, outcome=outcome, error_code=code)
    SyncRun.objects.filter(pk=run.pk).update(
        queued_at=queued, started_at=queued, finished_at=queued + timedelta(seconds=seconds)
    )
    return run


def ops_data() -> dict:
    albion = ConnectionFactory(institution=InstitutionFactory(slug="albion", name="Albion Bank"))
    rhein = ConnectionFactory(institution=InstitutionFactory(slug="rhein", name="Rhein Bank"))
    for i in range(10):
        _run(albion, hours_ago=1 + i * 2, seconds=2 + i, outcome=SyncRun.Outcome.SUCCEEDED)
        _run(rhein, hours_ago=30 + i * 12, seconds=5 + i * 3, outcome=SyncRun.Outcome.SUCCEEDED)
    _run(albion, hours_ago=3, seconds=1, outcome=SyncRun.Outcome.RATE_LIMITED, code="rate_limited")
    _run(albion, hours_ago=5, seconds=1, outcome=SyncRun.Outcome.FAILED, code="http_503")
    _run(rhein, hours_ago=2, seconds=30, outcome=SyncRun.Outcome.FAILED, code="timeout")
    _run(rhein, hours_ago=4, seconds=1, outcome=SyncRun.Outcome.REAUTH_REQUIRED, code="invalid_grant")
    waiting = ConnectionFactory(institution=rhein.institution, status=Connection.Status.REAUTH_REQUIRED)

    app = ApplicationFactory(webhook_url="https://tpp.example/hooks", webhook_secret="s")
    account = AccountFactory(connection=albion)
    consents = [ConsentFactory(application=app, user=albion.user) for _ in range(3)]
    for consent in consents:
        consent_authorise(consent=consent, user=albion.user, accounts=[account])
    consent_revoke(consent=consents[0], actor_type="user", actor_user=albion.user)

    event = WebhookEvent.objects.create(application=app, type="consent.revoked", payload={})
    WebhookDelivery.objects.create(event=event, url=app.webhook_url)
    WebhookDelivery.objects.create(event=event, url=app.webhook_url)
    WebhookDelivery.objects.create(
        event=event, url=app.webhook_url, status=WebhookDelivery.Status.FAILED, last_attempt_at=timezone.now()
    )
    # the revocation's own webhook is recorded after commit: pending here only in a transactional test
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).count()
    return {"albion": albion, "rhein": rhein, "waiting": waiting, "pending": pending}
