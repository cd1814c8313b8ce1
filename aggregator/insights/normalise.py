"""Counterparty normalisation: a clean display name, a stable id and a type from what the bank sent.

The bank's own ``merchant_name`` (cleaned) wins, then its ``counterparty_name``; otherwise the description is
stripped of each dialect's boilerplate ("CARD PAYMENT TO", "Lastschrift", "ZELLE TO", "DD", "FPS", "//City/DE",
store numbers, dates, references) and looked up in the directory of names learnt from training data (a cleaned
key → the display name); the cleaned text itself, title-cased, is the last resort.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "COUNTERPARTY_TYPES",
    "Counterparty",
    "clean_description",
    "counterparty_id",
    "counterparty_key",
    "counterparty_type",
    "normalise_counterparty",
]

COUNTERPARTY_TYPES = ("merchant", "person", "employer", "government", "financial_institution")
_KEY = re.compile(r"[^a-z0-9]+")
_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
# Dialect boilerplate around the name, in the order they are stripped (case-insensitive).
_PREFIXES = re.compile(
    r"^(?:CARD PAYMENT TO|CARD PURCHASE(?: AT)?|POS(?: DEBIT| PURCHASE)?|DEBIT CARD PURCHASE|CONTACTLESS|"
    r"SEPA-KARTENZAHLUNG|KARTENZAHLUNG|LASTSCHRIFT|ÜBERWEISUNG|UEBERWEISUNG|GUTSCHRIFT(?: ERSTATTUNG)?|"
    r"LOHN/GEHALT|LOHN|DAUERAUFTRAG(?: MIETE)?|ZAHLUNG AN|ZELLE (?:TO|FROM)|ACH CREDIT|ONLINE TRANSFER (?:TO|FROM)|"
    r"REFUND|RETURN|RUECKVERGUETUNG|LSV|DIRECT DEBIT(?: TO)?|STANDING ORDER(?: TO)?|FASTER PAYMENT(?: TO| FROM)?)\s+",
    re.IGNORECASE,
)
_SUFFIXES = re.compile(
    r"\s+(?:DD|FPS|SO|BGC|SALARY|RENT(?: ACH DEBIT)?|ACH DEBIT(?: AUTOPAY)?|AUTOPAY|DIR DEP PAYROLL|"
    r"ABSCHLAG \S+|RECHNUNG|MITGLIEDSBEITRAG|BEITRAG|CLUB FEES)$",
    re.IGNORECASE,
)
_NOISE = [
    re.compile(r"//.*$"),  # "REWE Markt GmbH//Berlin/DE": the city and country after //
    re.compile(rf"\s+ON\s+\d{{1,2}}\s+(?:{_MONTHS})\b.*$", re.IGNORECASE),  # "… ON 12 NOV"
    re.compile(r"\s+\d{1,2}[./-]\d{1,2}(?:[./-]\d{2,4})?\b"),  # dates
    re.compile(r"\s*\*.*$"),  # "AMAZON.CO.UK*1234", "UBER *TRIP HELP.UBER.COM"
    re.compile(r"\s+#?\d{3,}\b.*$"),  # store numbers and anything after them (city)
    re.compile(r"\s+(?:INV|REF|INVOICE)\s*\S+$", re.IGNORECASE),
    re.compile(r"\s+[A-Z]\d[A-Z0-9]{5,}$"),  # opaque references "P2F9A1C3E"
    re.compile(r"\s+[A-Z]{2}$"),  # trailing state/country code
]
_COMPANY = re.compile(
    r"\b(?:LTD|LIMITED|PLC|GMBH|AG|LLC|INC|SARL|S\.?A\.?|BV|AB|CO|CORP|GROUP|PARTNERS|SERVICES|KG|SE)\b\.?",
    re.IGNORECASE,
)
_GOVERNMENT = re.compile(
    r"\b(?:HMRC|COUNCIL|CTAX|BOROUGH|FINANZAMT|IRS|US TREASURY|DVLA|RUNDFUNK|STADT\b|GEMEINDE|STEUERVERWALTUNG)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Counterparty:
    id: str  # "cp_" + 16 hex digits, stable for the same name everywhere
    name: str
    type: str  # one of COUNTERPARTY_TYPES, or "" when there is no counterparty (a cash withdrawal)
    key: str  # comparison key: lower case letters and digits


@functools.lru_cache(maxsize=65_536)
def counterparty_key(name: str) -> str:
    """Memoised: a pure function of the name, called several times per transaction on the sync path."""
    return _KEY.sub("", name.casefold())


def counterparty_id(key: str) -> str:
    return f"cp_{hashlib.sha256(key.encode()).hexdigest()[:16]}" if key else ""


@functools.lru_cache(maxsize=65_536)
def clean_description(text: str) -> str:
    """The part of a bank description that names the counterparty, upper-case, boilerplate removed. Memoised:
    a pure function of the text, called for every transaction on the sync path (monthly bills repeat word for
    word)."""
    out = " ".join(text.split()).upper()
    for _ in range(2):
        out = _PREFIXES.sub("", out)
        for rx in _NOISE:
            out = rx.sub("", out).strip()
        out = _SUFFIXES.sub("", out).strip()
    return out.strip(" -*/,.")


def _display(text: str) -> str:
    if text.isupper() or text.islower():
        return " ".join(
            w
            if len(w) <= 3
            and w.isupper()
            and w.isalpha()
            and w in ("DB", "BT", "BVG", "MTA", "SBB", "AMC", "CVS", "TFL")
            else w.capitalize()
            for w in text.split()
        )
    return text


def counterparty_type(name: str, detailed: str, bank_transaction_code: str = "") -> str:
    """merchant | person | employer | government | financial_institution, from the name and the category."""
    if not name:
        return ""
    primary = detailed.partition(".")[0]
    if detailed in ("income.wages", "income.retirement_pension") or bank_transaction_code.endswith("-SALA"):
        return "employer"
    if detailed in ("income.interest_earned", "income.dividends") or primary in ("bank_fees", "loan_payments"):
        return "financial_institution"
    if primary == "government_and_non_profit" or _GOVERNMENT.search(name):
        return "government"
    if primary in ("transfer_in", "transfer_out", "income", "rent_and_utilities") and not _COMPANY.search(name):
        if detailed != "rent_and_utilities.rent" and primary == "rent_and_utilities":
            return "merchant"
        words = name.split()
        if 2 <= len(words) <= 4 and all(w[:1].isalpha() for w in words):
            return "person"
    return "merchant"


def normalise_counterparty(
    *,
    description: str,
    merchant_name: str = "",
    counterparty_name: str = "",
    detailed: str = "",
    bank_transaction_code: str = "",
    directory: Mapping[str, str] | None = None,
    bank_name: str = "",
) -> Counterparty:
    """The counterparty of one transaction. ``directory``: cleaned-description key → display name (learnt);
    ``bank_name``: the account's bank (the counterparty of interest and fees)."""
    if detailed in ("income.interest_earned", "bank_fees.other_bank_fees") and bank_name:
        name = bank_name
    elif merchant_name.strip():
        name = _display(" ".join(merchant_name.split()))
    elif counterparty_name.strip():
        name = " ".join(counterparty_name.split())
    else:
        cleaned = clean_description(description)
        known = (directory or {}).get(counterparty_key(cleaned))
        name = known or _display(cleaned)
    if detailed in ("transfer_out.withdrawal", "transfer_in.deposit") and not merchant_name and not counterparty_name:
        name = ""  # cash: nobody on the other side
    return _named(name, detailed, bank_transaction_code)


@functools.lru_cache(maxsize=65_536)
def _named(name: str, detailed: str, bank_transaction_code: str) -> Counterparty:
    """The counterparty called ``name`` (memoised: a sync names the same few hundred counterparties again and
    again, and its id is a hash)."""
    key = counterparty_key(name)
    return Counterparty(
        id=counterparty_id(key), name=name, type=counterparty_type(name, detailed, bank_transaction_code), key=key
    )
