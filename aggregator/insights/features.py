"""What the enrichment sees of a transaction (:class:`TxnInput`) and the text the model reads from it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["TxnInput", "model_text"]


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
    return (
        f"{t.description} | {t.merchant_name} | {t.counterparty_name} "
        f"__code_{code} __dir_{'in' if amount > 0 else 'out'} __mcc_{t.merchant_category_code or 'none'} "
        f"__size_{size} __named_{'y' if t.merchant_name or t.counterparty_name else 'n'}"
    )
