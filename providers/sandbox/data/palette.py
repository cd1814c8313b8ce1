"""Per-account choices fixed for an account's whole life: the stores it uses, its employer and landlord, the
days its bills are due — built once from ``fixtures/sandbox/merchants.json`` with a seeded RNG."""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass
from typing import Any

from .catalog import AccountPlan, bank_info, region_data

__all__ = [
    "ATM",
    "BOOK_IN",
    "BOOK_OUT",
    "CARD",
    "FX_IN",
    "INTEREST",
    "SALARY",
    "Palette",
    "Template",
    "palette",
    "rng_for",
]

Template = tuple[str, str, str, str, str]  # description, merchant_name, category, counterparty_name, code

# ISO 20022 bank transaction codes (domain-family-subfamily)
CARD = "PMNT-CCRD-POSD"
ATM = "PMNT-CCRD-CWDL"
SALARY = "PMNT-RCDT-SALA"
BOOK_IN = "PMNT-RCDT-BOOK"
BOOK_OUT = "PMNT-ICDT-BOOK"
FX_IN = "PMNT-RCDT-XBCT"
INTEREST = "ACMT-MCOP-INTR"


def rng_for(*parts: object) -> random.Random:
    """A ``random.Random`` seeded from strings via SHA-256 (never ``hash()``, which is salted per process)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def _cents(value: str) -> int:
    whole, _, frac = value.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


@dataclass(frozen=True)
class Palette:
    """Per-account choices fixed for its whole life: stores it uses, its employer, landlord, payment days."""

    card: tuple[tuple[Template, int, int, bool], ...]  # expanded by weight
    atm: tuple[tuple[Template, int, int, int], ...]  # template, lo, hi, step
    utilities: tuple[tuple[Template, int, int, int], ...]  # template, lo, hi, day of month
    subscriptions: tuple[tuple[Template, int, int], ...]  # template, cents, day of month
    salary: Template
    rent: Template
    transfers_out: tuple[Template, ...]
    transfers_in: tuple[Template, ...]
    refunds: tuple[Template, ...]
    invoice_people: tuple[str, ...]
    invoice_span: int  # bulk: incoming payments are 5.00 + span * u * v, balancing the card spending on average
    texts: dict[str, str]
    bank_name: str
    holder: str
    codes: dict[str, str]


@functools.cache
def palette(plan: AccountPlan) -> Palette:
    region: dict[str, Any] = region_data(plan.region)
    rng = rng_for(plan.seed_key, "palette")
    texts: dict[str, str] = region["text"]
    codes: dict[str, str] = region["codes"]
    cities: list[str] = region["cities"]
    home = rng.choice(cities)

    def city() -> str:  # people mostly shop in their home city
        return home if rng.random() < 0.7 else rng.choice(cities)

    card: list[tuple[Template, int, int, bool]] = []
    refunds: list[Template] = []
    for m in region["card"]:
        variants = 1 + (rng.random() < 0.5) + (m["weight"] >= 8)
        for _ in range(variants):
            descriptor = m["descriptor"].format(store=rng.randint(1000, 9899), city=city())
            tpl = (descriptor, m["name"], m["category"], m["legal"], CARD)
            card.extend([(tpl, _cents(m["min"]), _cents(m["max"]), bool(m.get("tip")))] * max(1, m["weight"]))
            if m["category"] == "shopping":
                refunds.append((texts["refund"].format(descriptor=descriptor), m["name"], "refunds", m["legal"], CARD))
    atm_def = region["atm"]
    atm = tuple(
        (
            (atm_def["descriptor"].format(city=c, store=rng.randint(100, 999)), "", "cash", "", ATM),
            _cents(atm_def["min"]),
            _cents(atm_def["max"]),
            _cents(atm_def["step"]),
        )
        for c in (home, rng.choice(cities))
    )
    utilities = tuple(
        (
            (
                texts["direct_debit"].format(descriptor=u["descriptor"]),
                u["name"],
                u["category"],
                u["legal"],
                codes["direct_debit"],
            ),
            _cents(u["min"]),
            _cents(u["max"]),
            rng.randint(2, 27),
        )
        for u in region["utilities"]
    )
    subscriptions = tuple(
        ((s["descriptor"], s["name"], s["category"], s["legal"], CARD), _cents(s["amount"]), rng.randint(1, 28))
        for s in region["subscriptions"]
        if rng.random() < 0.8
    )
    employer = rng.choice(region["employers"])
    landlord = rng.choice(region["landlords"])
    people = region["people"]
    refs = region["transfer_refs"]
    return Palette(
        card=tuple(card),
        atm=atm,
        utilities=utilities,
        subscriptions=subscriptions,
        salary=(texts["salary"].format(employer=employer.upper()), "", "salary", employer, SALARY),
        rent=(texts["rent"].format(landlord=landlord), "", "rent", landlord, codes["rent"]),
        transfers_out=tuple(
            (texts["transfer_out"].format(person=p, ref=r), "", "transfers", p, codes["transfer_out"])
            for p in people
            for r in refs
        ),
        transfers_in=tuple(
            (texts["transfer_in"].format(person=p, ref=r), "", "transfers", p, codes["transfer_in"])
            for p in people
            for r in refs
        ),
        refunds=tuple(refunds),
        invoice_people=tuple(people),
        invoice_span=_invoice_span(card),
        texts=texts,
        bank_name=bank_info(plan.account.bank)["name"],
        holder=plan.account.holder_name,
        codes=codes,
    )


def _invoice_span(card: list[tuple[Template, int, int, bool]]) -> int:
    """For the bulk profile (38 % incoming payments, 62 % card payments): the span that makes the mean incoming
    payment (500 + span / 4 cents) offset the mean card payment (lo + (hi - lo) / 3)."""
    if not card:
        return 11_500
    card_mean = sum(lo + (hi - lo) / 3 for _tpl, lo, hi, _tip in card) / len(card)
    return max(1000, int(4 * (card_mean * 0.62 / 0.38 - 500)))
