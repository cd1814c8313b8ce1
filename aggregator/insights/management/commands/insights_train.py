"""``manage.py insights_train``: train the category model from generated sandbox data (plus the users'
corrections) and write it to ``INSIGHTS["MODEL_PATH"]`` (default ``DATA_DIR/insights/model.joblib``).

Nothing is downloaded: the training data are made-up users of the sandbox generator (seeds 1..N, calibration on
the next two), so a build can run it offline. Accounts re-enrich on their next refresh (model version changed);
``--refresh`` does it now.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from aggregator.insights.conf import insights_settings
from aggregator.insights.features import TxnInput
from aggregator.insights.model import fit_model, save_model
from aggregator.insights.models import CategoryCorrection, TransactionEnrichment
from aggregator.insights.services import insights_refresh_accounts, model_path
from aggregator.insights.taxonomy import taxonomy
from aggregator.insights.training import build_directory, labelled_inputs, training_pairs
from aggregator.models import Account

TRAINING_NOW = datetime(2025, 6, 30, 12, tzinfo=UTC)


def correction_pairs() -> list[tuple[TxnInput, str]]:
    """Every stored transaction of a corrected counterparty, labelled with the user's category."""
    wanted = dict(CategoryCorrection.objects.values_list("counterparty_id", "category_detailed").order_by("updated_at"))
    rows = TransactionEnrichment.objects.filter(counterparty_id__in=list(wanted)).values(
        "counterparty_id",
        "transaction__description",
        "transaction__amount",
        "transaction__merchant_name",
        "transaction__counterparty_name",
        "transaction__bank_transaction_code",
        "transaction__merchant_category_code",
    )
    return [
        (
            TxnInput(
                key=None,
                description=r["transaction__description"],
                amount=r["transaction__amount"],
                merchant_name=r["transaction__merchant_name"],
                counterparty_name=r["transaction__counterparty_name"],
                bank_transaction_code=r["transaction__bank_transaction_code"],
                merchant_category_code=r["transaction__merchant_category_code"],
            ),
            wanted[r["counterparty_id"]],
        )
        for r in rows.iterator()
    ]


class Command(BaseCommand):
    help = "Train the insights category model from generated data and users' corrections (offline)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seeds", type=int, default=None, help="training seeds 1..N (default INSIGHTS)")
        parser.add_argument("--output", default=None, help="model file (default INSIGHTS['MODEL_PATH'])")
        parser.add_argument("--refresh", action="store_true", help="re-enrich every account now")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        n = int(options["seeds"] or insights_settings.TRAIN_SEEDS)
        train = labelled_inputs(range(1, n + 1), TRAINING_NOW)
        calibration = labelled_inputs([n + 1, n + 2], TRAINING_NOW)
        corrections = correction_pairs()
        model = fit_model(
            training_pairs(train) + corrections,
            training_pairs(calibration),
            taxonomy_version=taxonomy().version,
            directory=build_directory(train),
            trained_on={"seeds": n, "transactions": len(train), "corrections": len(corrections)},
        )
        path = model_path() if options["output"] is None else Path(options["output"])
        save_model(model, path)
        self.stdout.write(
            f"model {model.version} (taxonomy {model.taxonomy_version}) trained on {len(train)} generated "
            f"transactions and {len(corrections)} corrected ones in {time.perf_counter() - started:.1f}s → {path}"
        )
        if options["refresh"]:
            ids = list(Account.objects.values_list("pk", flat=True))
            result = insights_refresh_accounts(account_ids=ids)
            self.stdout.write(f"re-enriched {result.enriched} transactions")
