"""What the enrichment sees of a transaction (:class:`TxnInput`) and the text the model reads from it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["FEATURES_VERSION", "TxnInput", "model_text"]

# Bumped whenever model_text changes: a model trained on other features is not used (services.current_model).
FEATURES_VERSION = "2"  # 2: runs of 5+ digits masked
# References, long dates and card suffixes say nothing about the category, and masking them makes the
# texts of a sync repeat (scored once each: the bulk sandbox user's 147k rows have 187 distinct texts, not 57k).
_DIGITS = re.compile(r"\d{5,}")


@dataclass(frozen=True)
class TxnInput:
    """The bank's facts about one transaction, as stored (never the bank's category: we make our own)."""

    key: Any  # the caller's handle (a primary key, a sandbox id)
    description: str
    amount: Decimal
    merchant_name: str = ""
    counterparty_name: str = ""
    bank_transaction_code: str = ""
    merchant_category_code: str = ""
    bank_name: str = ""  # the account's bank: the counterparty of its interest and fees


def model_text(t: TxnInput) -> str:
    """One string per transaction: the texts, then tokens for the transaction code, direction, MCC and size."""
    amount = float(t.amount)
    size = int(math.log2(abs(amount) + 1))
    code = t.bank_transaction_code.replace("-", "_") or "none"
    texts = _DIGITS.sub("#####", f"{t.description} | {t.merchant_name} | {t.counterparty_name}")
    return (
        f"{texts} "
        f"__code_{code} __dir_{'in' if amount > 0 else 'out'} __mcc_{t.merchant_category_code or 'none'} "
        f"__size_{size} __named_{'y' if t.merchant_name or t.counterparty_name else 'n'}"
    )
