"""Ground truth for the insights benchmark: what the generator *meant* by each transaction it made.

For every :class:`SandboxTransaction` the generator knows the true category (in the insights taxonomy, the
``detailed`` key of ``fixtures/sandbox/merchants.json`` for merchants, a fixed rule for salaries, rents, transfers
…), the true counterparty (clean name, stable id, type), the recurring stream it belongs to with its true frequency
(salary, rent, bills, subscriptions, interest: monthly; the generated users' schedules: weekly, biweekly,
semi_monthly, monthly, annually — :mod:`.schedules`) and whether it is an injected anomaly
(``SandboxTransaction.anomaly``). A bank never sends these; ``sandbox_export --labels`` prints them and the
benchmark scores the enrichment against them. ``merchant_category_code`` is the one label a real bank does send
(card transactions), and the banks' views use it.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .catalog import CURRENCY_REGION, AccountPlan, _build_plan, bank_info, region_data
from .palette import CARD, rng_for
from .records import SandboxTransaction
from .schedules import SCHEDULED_CATEGORIES, schedule_spec
from .timeline import timeline_for, to_timestamp

__all__ = [
    "TransactionLabel",
    "counterparty_key",
    "labelled_history",
    "merchant_category_code",
    "synthetic_plans",
    "transaction_label",
]

PERSON_LANDLORDS = frozenset({"M J Holloway", "Hausverwaltung Schneider"})
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class TransactionLabel:
    transaction_id: str
    category_primary: str
    category_detailed: str
    counterparty_id: str  # "" where there is none (cash withdrawals)
    counterparty_name: str
    counterparty_type: str  # merchant | person | employer | government | financial_institution | ""
    stream_id: str  # "" unless part of a scheduled recurring stream
    frequency: str  # the stream's true frequency (weekly, biweekly, semi_monthly, monthly, annually), else ""
    anomaly: str  # "" or one of generator.ANOMALY_KINDS


def counterparty_key(name: str) -> str:
    """The comparison key of a counterparty's name: lower case, letters and digits only."""
    return _SLUG.sub("", name.casefold())


@functools.cache
def _merchants(region: str) -> dict[str, dict[str, Any]]:
    data = region_data(region)
    out: dict[str, dict[str, Any]] = {}
    for group in ("card", "utilities", "subscriptions"):
        for m in data.get(group, []):
            out[m["name"]] = {**m, "group": group}
    return out


def _region(tx: SandboxTransaction) -> str:
    return CURRENCY_REGION.get(tx.currency, "GB")


def merchant_category_code(tx: SandboxTransaction) -> str:
    """The ISO 18245 code a card scheme reports for a card payment at a known merchant, else ""."""
    if tx.bank_transaction_code != CARD or not tx.merchant_name:
        return ""
    return str(_merchants(_region(tx)).get(tx.merchant_name, {}).get("mcc", ""))


_FIXED = {  # sandbox category → (detailed when money goes out, detailed when it comes in)
    "salary": ("income.wages", "income.wages"),
    "rent": ("rent_and_utilities.rent", "rent_and_utilities.rent"),
    "cash": ("transfer_out.withdrawal", "transfer_in.deposit"),
    "interest": ("income.interest_earned", "income.interest_earned"),
    "credit_card_payment": ("loan_payments.credit_card_payment", "loan_payments.credit_card_payment"),
    "income": ("income.other_income", "income.other_income"),
    "savings": ("transfer_out.account_transfer", "transfer_in.account_transfer"),
}


def transaction_label(tx: SandboxTransaction, *, holder: str, bank_name: str) -> TransactionLabel:
    """The truth about ``tx`` (an item of an account held by ``holder`` at a bank called ``bank_name``)."""
    out = tx.amount < 0
    merchant = _merchants(_region(tx)).get(tx.merchant_name) if tx.merchant_name else None
    stream = ""
    frequency = "monthly"  # salary, rent, bills, subscriptions, interest; schedules say theirs
    scheduled = (
        schedule_spec(_region(tx), tx.counterparty_name)
        if tx.category in SCHEDULED_CATEGORIES.values() and not tx.merchant_name
        else None
    )
    if scheduled is not None:
        # named as the bank names the creditor or payer (like employers and landlords): its legal name
        detailed, name, kind = scheduled["detailed"], scheduled["legal"], scheduled["type"]
        stream, frequency = "scheduled", scheduled["frequency"]
    elif tx.anomaly == "card_testing":
        detailed, name, kind = "general_merchandise.other_general_merchandise", tx.merchant_name, "merchant"
    elif merchant is not None:
        detailed, name, kind = merchant["detailed"], merchant["name"], merchant.get("type", "merchant")
        if merchant["group"] != "card" and not tx.anomaly:
            stream = "bill"
    elif tx.category in _FIXED:
        detailed = _FIXED[tx.category][0 if out else 1]
        name = tx.counterparty_name
        kind = {"salary": "employer", "interest": "financial_institution", "cash": ""}.get(tx.category, "person")
        if tx.category == "rent":
            kind = "person" if name in PERSON_LANDLORDS else "merchant"
        if tx.category in ("salary", "rent", "interest"):  # own-account moves (savings, card repayments) are not
            stream = tx.category
    else:  # transfers: to/from the holder's own accounts, or between people
        own = tx.counterparty_name == holder
        text = tx.description.casefold()
        if own and any(word in text for word in ("saving", "spar", "tagesgeld")):
            detailed = "transfer_out.savings" if out else "transfer_in.savings"
        else:
            detailed = "transfer_out.account_transfer" if out else "transfer_in.account_transfer"
        name, kind = tx.counterparty_name, "person"
    if tx.category == "interest":
        name = bank_name
    cp_id = f"cp_{hashlib.sha256(counterparty_key(name).encode()).hexdigest()[:16]}" if name else ""
    stream_id = f"{tx.account_id}:{counterparty_key(name)}:{'out' if out else 'in'}" if stream else ""
    return TransactionLabel(
        transaction_id=tx.id,
        category_primary=detailed.partition(".")[0],
        category_detailed=detailed,
        counterparty_id=cp_id,
        counterparty_name=name,
        counterparty_type=kind,
        stream_id=stream_id,
        frequency=frequency if stream else "",
        anomaly=tx.anomaly,
    )


_SYNTHETIC_NAMES = ("Morgan Ellis", "Kai Brandt", "Noor Haddad", "Luca Romano", "Ines Vidal", "Tariq Osei")


def synthetic_plans(
    seed: int, *, anomaly_rate: float = 0.3, card_rate: float = 1.0, schedules: float = 0.5
) -> tuple[AccountPlan, ...]:
    """Accounts of a made-up user for ``seed`` at every sandbox bank (current, credit card, savings; a CHF travel
    account at rhein), not in the fixtures: the insights model trains on some seeds and is scored on others."""
    rng = rng_for("synthetic", seed)
    user = {"username": f"synthetic{seed}", "full_name": _SYNTHETIC_NAMES[seed % len(_SYNTHETIC_NAMES)], "seed": seed}
    plans = []
    for bank in ("albion", "rhein", "liberty"):
        income = 1800 + int(rng.random() * 4200)
        specs = [
            {
                "key": "current",
                "type": "current",
                "opening_balance": "1500.00",
                "monthly_income": f"{income}.00",
                "rent": f"{int(income * (0.25 + 0.15 * rng.random()))}.00",
                "card_rate": round(card_rate * (0.5 + rng.random()), 2),
                "anomaly_rate": anomaly_rate,
                "schedules": schedules,
            },
            {
                "key": "card",
                "type": "credit_card",
                "opening_balance": "-250.00",
                "credit_limit": "5000.00",
                "card_rate": round(card_rate * (0.3 + 0.6 * rng.random()), 2),
                "anomaly_rate": anomaly_rate,
            },
            {"key": "savings", "type": "savings", "opening_balance": "4000.00", "monthly_deposit": "200.00"},
        ]
        if bank == "rhein":
            specs.append({"key": "chf", "type": "current", "currency": "CHF", "profile": "travel", "card_rate": 0.4})
        plans += [_build_plan(bank, user, i, spec) for i, spec in enumerate(specs)]
    return tuple(plans)


def labelled_history(plan: AccountPlan, now: datetime) -> list[tuple[SandboxTransaction, TransactionLabel]]:
    """The account's booked transactions up to ``now``, oldest first, each with its label."""
    ts = to_timestamp(now)
    bank_name = bank_info(plan.account.bank)["name"]
    holder = plan.account.holder_name
    return [
        (tx, transaction_label(tx, holder=holder, bank_name=bank_name))
        for tx in timeline_for(plan, ts).visible(ts, status="booked")
    ]
