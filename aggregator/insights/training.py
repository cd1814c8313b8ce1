"""Training and evaluation data from the sandbox generator: made-up users per seed (never the fixtures' users),
each transaction rendered the way the aggregator stores it and paired with the generator's ground truth."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from providers.sandbox.data.catalog import bank_info
from providers.sandbox.data.labels import TransactionLabel, labelled_history, merchant_category_code, synthetic_plans
from providers.sandbox.data.records import SandboxTransaction

from .features import TxnInput
from .normalise import clean_description, counterparty_key

__all__ = ["LabelledTxn", "build_directory", "labelled_inputs", "training_pairs"]


@dataclass(frozen=True)
class LabelledTxn:
    tx: SandboxTransaction
    label: TransactionLabel
    input: TxnInput  # as the bank sends it (merchant and counterparty names included)
    bare: TxnInput  # description, amount, code and MCC only: the normaliser's harder case


def labelled_inputs(seeds: Iterable[int], now: datetime, *, anomaly_rate: float = 0.3) -> list[LabelledTxn]:
    out = []
    for seed in seeds:
        for plan in synthetic_plans(seed, anomaly_rate=anomaly_rate):
            bank_name = bank_info(plan.account.bank)["name"]
            for tx, label in labelled_history(plan, now):
                mcc = merchant_category_code(tx)
                full = TxnInput(
                    key=tx.id,
                    description=tx.description,
                    amount=tx.amount,
                    merchant_name=tx.merchant_name,
                    counterparty_name=tx.counterparty_name,
                    bank_transaction_code=tx.bank_transaction_code,
                    merchant_category_code=mcc,
                    bank_name=bank_name,
                )
                bare = TxnInput(
                    key=tx.id,
                    description=tx.description,
                    amount=tx.amount,
                    bank_transaction_code=tx.bank_transaction_code,
                    merchant_category_code=mcc,
                    bank_name=bank_name,
                )
                out.append(LabelledTxn(tx, label, full, bare))
    return out


def training_pairs(rows: Sequence[LabelledTxn]) -> list[tuple[TxnInput, str]]:
    """Both renderings of every row (with and without the bank's names), labelled with the true category."""
    return [pair for r in rows for pair in ((r.input, r.label.category_detailed), (r.bare, r.label.category_detailed))]


def build_directory(rows: Sequence[LabelledTxn]) -> dict[str, str]:
    """Cleaned-description key → the most common true counterparty name behind it (keys seen ≥ 2 times)."""
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        if r.label.counterparty_name:
            seen[counterparty_key(clean_description(r.tx.description))][r.label.counterparty_name] += 1
    return {key: names.most_common(1)[0][0] for key, names in seen.items() if key and names.total() >= 2}
