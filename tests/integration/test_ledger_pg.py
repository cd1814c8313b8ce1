"""The ledger on PostgreSQL with a real Celery worker: a consent authorised in one transaction is appended by the
worker's sequencer task (sent on commit through Redis), lands in a signed checkpoint, and the standalone verifier
proves its inclusion over real HTTP."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import time
from pathlib import Path

import pytest
from django.utils import timezone

from aggregator.ledger.models import LedgerCheckpoint, LedgerLeaf
from consent.models import ConsentEvent
from consent.services import consent_authorise, consent_create
from tests.factories import AccountFactory, ApplicationFactory, ConnectionFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The session's worker (started after collection, with this environment) signs a checkpoint after every append,
# rather than every 256 leaves or 5 minutes.
os.environ.setdefault("LEDGER_CHECKPOINT_EVERY_LEAVES", "1")

_spec = importlib.util.spec_from_file_location(
    "ledger_verify", Path(__file__).resolve().parents[2] / "tools" / "ledger_verify.py"
)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def test_a_consent_authorisation_ends_up_in_a_signed_checkpoint(celery_worker, live_server, tmp_path):
    alice = UserFactory(username="ledger-alice")
    account = AccountFactory(connection=ConnectionFactory(user=alice))
    consent = consent_create(
        application=ApplicationFactory(), permissions=["accounts"], expires_at=timezone.now() + dt.timedelta(days=1)
    )
    consent_authorise(consent=consent, user=alice, accounts=[account])
    authorised = ConsentEvent.objects.get(consent=consent, to_status="authorised")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        authorised.refresh_from_db()
        index = authorised.ledger_leaf_index
        if index is not None and LedgerCheckpoint.objects.filter(tree_size__gt=index).exists():
            break
        time.sleep(0.2)
    else:
        pytest.fail("the worker did not append the authorisation and sign a checkpoint within 30 s")

    leaf = LedgerLeaf.objects.get(index=index)
    assert leaf.event_id == authorised.event_id and leaf.name == "consent.status_changed"
    assert list(LedgerLeaf.objects.order_by("index").values_list("index", flat=True)) == list(range(index + 1))
    assert tool.run(live_server.url, str(tmp_path / "state.json"), [index], None) == 0
