"""The delta feed never skips a row committed late by a slow writer (PostgreSQL: pg_stat_activity watermark)."""

from __future__ import annotations

import datetime as dt
import time

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from tests.api.factories import AccessTokenFactory, AuthorisedConsentFactory
from tests.factories import AccountFactory, ConnectionFactory, TransactionFactory, UserFactory
from tests.integration import require_postgres

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_slow_writers_rows_are_not_skipped(settings):
    require_postgres()
    settings.AGGREGATOR = {**settings.AGGREGATOR, "ACCESS_LOG_FLUSH_SECONDS": 0, "DELTA_FEED_SAFETY_LAG_SECONDS": 0.5}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    alice = UserFactory(username="alice")
    account = AccountFactory(connection=ConnectionFactory(user=alice))
    consent = AuthorisedConsentFactory(user=alice, accounts=[account])
    TransactionFactory(account=account, booking_date=dt.date(2026, 2, 1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessTokenFactory(consent=consent).token}")
    cursor = client.get("/api/v1/transactions/sync").json()["data"]["next_cursor"]

    params = connection.get_connection_params()
    dsn = {k: v for k, v in params.items() if k in {"dbname", "user", "host", "port", "password"}}
    with psycopg.connect(**dsn) as writer:
        # The writer stamps its row now but commits only after the reader has looked.
        stamp = timezone.now()
        writer.execute(
            "INSERT INTO aggregator_transaction (public_id, account_id, provider_transaction_id, status, booking_date,"
            " amount, currency, description, merchant_name, category, counterparty_name, bank_transaction_code,"
            " pending_transaction_id, merchant_category_code, raw, created_at, updated_at)"
            " VALUES (gen_random_uuid(), %s, 'late-1', 'booked', '2026-02-02', -1, 'GBP', '', '', '', '', '', '',"
            " '', '{}', %s, %s)",
            [account.pk, stamp, stamp],
        )
        # Longer than the safety lag: only the oldest-open-transaction guard keeps the reader behind the row.
        time.sleep(0.8)
        early = client.get("/api/v1/transactions/sync", {"cursor": cursor}).json()["data"]
        assert "-1.00" not in [t["amount"] for t in early["added"]]
        cursor = early["next_cursor"]
        writer.commit()
    time.sleep(0.6)
    late = client.get("/api/v1/transactions/sync", {"cursor": cursor}).json()["data"]
    assert [t["amount"] for t in late["added"]].count("-1.00") == 1
