"""Options of the aggregator app (data domain, API, webhooks), read as ``aggregator_settings.SYNC_INTERVAL``.

Defaults are declared here once; deployments set them in ``settings.AGGREGATOR`` (from the environment, see
``aggregator/config/settings.py``). The adapter/HTTP options of the same dict belong to ``providers.conf``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from providers.conf import AppSettings

__all__ = ["AGGREGATOR_DEFAULTS", "aggregator_settings"]

AGGREGATOR_DEFAULTS: dict[str, Any] = {
    # How often a connection is synced when no bank limit asks for less.
    "SYNC_INTERVAL": timedelta(hours=1),
    # Scheduled syncs start up to this many seconds late (spreads a thundering herd).
    "SYNC_JITTER_SECONDS": 30,
    # Window dialects re-read this many days before the last booking date seen.
    "SYNC_OVERLAP_DAYS": 7,
    # A sync holds its connection's lease (aggregator/sync/locks.py) this long after each renewal (a heartbeat
    # renews it every third of it, each page commit too): a crashed worker's connection is free again after this.
    "SYNC_LEASE_SECONDS": 120,
    # Page commits of a sync on PostgreSQL use synchronous_commit=off unless this is true.
    "SYNC_SYNCHRONOUS_COMMIT": False,
    # Access-log rows are buffered per process and written in batches; 0 writes each one in the request.
    "ACCESS_LOG_FLUSH_SECONDS": 1.0,
    # Delta feed: rows younger than this are held back so a slow concurrent commit cannot be skipped.
    "DELTA_FEED_SAFETY_LAG_SECONDS": 2.0,
    "WEBHOOK_TIMEOUT_SECONDS": 10.0,
    "WEBHOOK_MAX_ATTEMPTS": 8,
    # The client's address (login lockouts, audit): REMOTE_ADDR unless this many reverse proxies of ours stand in
    # front of the app; then the address the outermost of them saw, read from CLIENT_IP_HEADER (each proxy
    # appends the address it received from). Never trust a header no proxy of ours overwrites.
    "TRUSTED_PROXY_COUNT": 0,
    "CLIENT_IP_HEADER": "X-Forwarded-For",
    # Payments (aggregator.payments): a payment consent must be authorised within this many minutes of its
    # creation, and used (one payment) before it expires, this long after its creation.
    "PAYMENT_CONSENT_AUTHORISE_MINUTES": 30,
    "PAYMENT_CONSENT_VALIDITY": timedelta(hours=24),
    # How long the TPP's payment token may read the payment consent and its payment (the OAuth consent's length).
    "PAYMENT_ACCESS_DAYS": 30,
    # A payment the bank never answered is retried with the same bank idempotency key for this long, then failed.
    "PAYMENT_SUBMIT_GIVE_UP_AFTER": timedelta(hours=24),
    # Status polling of accepted payments, and the reconciliation window (days after the submission).
    "PAYMENT_POLL_INTERVAL_SECONDS": 60,
    "PAYMENT_RECONCILE_WINDOW_DAYS": 5,
    # GET /metrics: allowed with "Authorization: Bearer <METRICS_TOKEN>" or from these networks (CIDRs).
    "METRICS_TOKEN": "",
    "METRICS_ALLOWED_NETWORKS": [],
    # Compliance (aggregator.compliance, docs/compliance.md): the clock the regulatory clocks run on ("sandbox" or
    # "real"; default: sandbox when SANDBOX_ENABLED), one regime forced for every bank ("UK", "EU", "US"; default:
    # the institution's country decides), and extra country → regime entries.
    "COMPLIANCE_CLOCK": "",
    "COMPLIANCE_REGIME": "",
    "COMPLIANCE_COUNTRY_REGIMES": {},
    # Privacy (aggregator.privacy, docs/privacy.md). Export archives are written under PRIVACY_EXPORT_DIR (default:
    # DATA_DIR/exports); their download links are signed and valid this many seconds. Erased users and kept evidence
    # are named by an HMAC keyed with PRIVACY_PSEUDONYM_KEY (default: derived from SECRET_KEY).
    "PRIVACY_EXPORT_DIR": "",
    "PRIVACY_EXPORT_LINK_SECONDS": 24 * 3600,
    "PRIVACY_PSEUDONYM_KEY": "",
    # Retention (aggregator.privacy.retention, enforced hourly): how long each kind of data is kept.
    # Transactions and balances of accounts no consent has covered since, counted from the last consent's end.
    "RETENTION_ENDED_CONSENT_TRANSACTIONS": timedelta(days=90),
    "RETENTION_ACCESS_LOG": timedelta(days=395),
    "RETENTION_SYNC_RUNS": timedelta(days=90),
    "RETENTION_WEBHOOK_DELIVERIES": timedelta(days=30),
    "RETENTION_EXPORT_ARCHIVES": timedelta(days=7),
    # Rows deleted per short transaction.
    "RETENTION_BATCH_SIZE": 1000,
    # Unattended access (RTS Art. 36(5), aggregator/sync/unattended.py): of each data type's reads per 24 hours at
    # a capped bank, scheduled syncs leave this many to third parties' refreshes (and are spaced to spread the rest).
    "UNATTENDED_KEEP_FOR_REFRESH": 1,
}

aggregator_settings = AppSettings("AGGREGATOR", AGGREGATOR_DEFAULTS)
