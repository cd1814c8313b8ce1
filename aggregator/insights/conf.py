"""Options of the insights app (``settings.INSIGHTS``), read as ``insights_settings.MODEL_PATH``."""

from __future__ import annotations

from typing import Any

from providers.conf import AppSettings

__all__ = ["INSIGHTS_DEFAULTS", "insights_settings"]

INSIGHTS_DEFAULTS: dict[str, Any] = {
    # The trained model (``manage.py insights_train``); "" = DATA_DIR/insights/model.joblib. Without a file the
    # enrichment still runs on rules and merchant category codes (lower confidence).
    "MODEL_PATH": "",
    # Enrich in a follow-up task after every sync that changed something (the sync itself never waits).
    "ENRICH_AFTER_SYNC": True,
    # Rows enriched per database round (bulk reads and writes).
    "BATCH_SIZE": 2000,
    # Risk signals at or above this score are announced by webhook (all are stored and served).
    "WEBHOOK_MIN_SCORE": 0.8,
    # ... and about a transaction booked at most this many days before today: the first sync of years of history
    # stores and serves every signal, but does not page a TPP about fraud from last year.
    "WEBHOOK_MAX_AGE_DAYS": 30,
    # Training data: generated users for seeds 1..TRAIN_SEEDS, calibration on the next two seeds.
    "TRAIN_SEEDS": 4,
}

insights_settings = AppSettings("INSIGHTS", INSIGHTS_DEFAULTS)
