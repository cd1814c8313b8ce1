"""The sandbox's static definitions: banks, users, accounts and merchants, read from ``fixtures/sandbox/``.

Account identifiers (ids, sort codes, account numbers, IBANs, card numbers) are derived with SHA-256 from
``(bank, username, account key)`` so they are the same on every machine and never depend on list order.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .records import BANKS, SandboxAccount, SandboxUser

__all__ = [
    "FIXTURES_DIR",
    "AccountPlan",
    "UnknownAccount",
    "UnknownBank",
    "UnknownUser",
    "account_plan",
    "account_plans",
    "bank_info",
    "history_start",
    "region_data",
    "user_definition",
    "users",
]

FIXTURES_DIR = Path(__file__).resolve().parents[3] / "fixtures" / "sandbox"
ACCOUNT_TYPES = ("current", "savings", "credit_card")
PROFILES = ("current", "savings", "credit_card", "travel", "bulk")
CURRENCY_REGION = {"GBP": "GB", "EUR": "DE", "USD": "US", "CHF": "CH"}


class UnknownBank(LookupError):
    def __init__(self, bank: str) -> None:
        super().__init__(f"unknown sandbox bank {bank!r}; valid banks: {', '.join(BANKS)}")


class UnknownUser(LookupError):
    def __init__(self, username: str) -> None:
        names = ", ".join(u.username for u in users())
        super().__init__(f"unknown sandbox user {username!r}; valid users: {names}")


class UnknownAccount(LookupError):
    def __init__(self, bank: str, username: str, account_id: str) -> None:
        super().__init__(f"sandbox bank {bank!r} holds no account {account_id!r} for user {username!r}")


def _load(name: str) -> Any:
    with (FIXTURES_DIR / name).open(encoding="utf-8") as fh:
        return json.load(fh)


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()


def _digits(raw: bytes, n: int) -> str:
    return str(int.from_bytes(raw, "big") % 10**n).zfill(n)


def _iban(country: str, bban: str) -> str:
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


@functools.cache
def _banks() -> dict[str, Any]:
    data = _load("banks.json")
    missing = set(BANKS) - set(data["banks"])
    if missing:
        raise ValueError(f"fixtures/sandbox/banks.json lacks banks {sorted(missing)}")
    return data


def history_start() -> datetime:
    """Every account's history starts here (fixed, so ids stay stable as time passes)."""
    return datetime.combine(date.fromisoformat(_banks()["history_start"]), datetime.min.time(), tzinfo=UTC)


def bank_info(bank: str) -> dict[str, Any]:
    """The bank's definition from ``fixtures/sandbox/banks.json`` (name, country, routing number, …)."""
    try:
        return _banks()["banks"][bank]
    except KeyError:
        raise UnknownBank(bank) from None


@functools.cache
def _merchants() -> dict[str, Any]:
    return _load("merchants.json")


def region_data(region: str) -> dict[str, Any]:
    return _merchants()[region]


@functools.cache
def _user_defs() -> dict[str, dict[str, Any]]:
    return {u["username"]: u for u in _load("users.json")["users"]}


@functools.cache
def users() -> tuple[SandboxUser, ...]:
    return tuple(
        SandboxUser(
            username=u["username"],
            password=u["password"],
            full_name=u["full_name"],
            behaviour=u.get("behaviour", "normal"),
            seed=int(u.get("seed", 0)),
            payments=u.get("payments", "normal"),
        )
        for u in _user_defs().values()
    )


def user_definition(username: str) -> dict[str, Any]:
    try:
        return _user_defs()[username]
    except KeyError:
        raise UnknownUser(username) from None


@dataclass(frozen=True)
class AccountPlan:
    """An account plus the parameters its transaction generator needs (amounts in minor units)."""

    account: SandboxAccount
    seed_key: str
    token: str  # 6 hex characters, part of every transaction id
    profile: str
    region: str
    opening_cents: int
    income_cents: int
    rent_cents: int
    deposit_cents: int
    card_rate: float
    limit_cents: int
    anomaly_rate: float = 0.0  # chance per month and kind of an injected, labelled anomaly (see generator)
    schedules: float = 0.0  # chance of each of the region's weekly … annual streams (see schedules)


def _cents(value: object) -> int:
    amount = Decimal(str(value))
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"amount {value!r} has more than 2 decimal places")
    return int(amount * 100)


def _build_plan(bank: str, user: dict[str, Any], index: int, spec: dict[str, Any]) -> AccountPlan:
    info = bank_info(bank)
    username = user["username"]
    key = spec.get("key") or f"acct{index}"
    kind = spec["type"]
    if kind not in ACCOUNT_TYPES:
        raise ValueError(f"{username}@{bank}: account type {kind!r} not in {ACCOUNT_TYPES}")
    currency = spec.get("currency", info["home_currency"])
    if currency not in info["currencies"]:
        raise ValueError(f"{username}@{bank}: bank {bank} does not offer {currency} accounts")
    profile = spec.get("profile", kind)
    if profile not in PROFILES:
        raise ValueError(f"{username}@{bank}: profile {profile!r} not in {PROFILES}")
    digest = _digest("account", bank, username, key)
    account_id = f"{bank[:3]}-{digest.hex()[:16]}"
    fields: dict[str, Any] = {}
    if kind == "credit_card":
        fields["masked_pan"] = "*" * 12 + _digits(digest[8:16], 4)
        fields["credit_limit"] = Decimal(str(spec["credit_limit"])).quantize(Decimal("0.01"))
    elif info["country"] == "GB":
        sort_code = info["sort_code_prefix"] + _digits(digest[8:12], 4)
        number = _digits(digest[12:20], 8)
        fields.update(
            sort_code=sort_code, account_number=number, iban=_iban("GB", info["iban_bank_code"] + sort_code + number)
        )
    elif info["country"] == "DE":
        fields["iban"] = _iban("DE", info["blz"] + _digits(digest[8:16], 10))
    else:
        fields["account_number"] = str(1 + int.from_bytes(digest[8:16], "big") % 9) + _digits(digest[16:24], 9)
    account = SandboxAccount(
        id=account_id,
        bank=bank,
        username=username,
        type=kind,
        currency=currency,
        name=spec.get("name", kind.replace("_", " ").title()),
        holder_name=user["full_name"],
        opened_on=date.fromisoformat(spec["opened_on"]) if "opened_on" in spec else history_start().date(),
        **fields,
    )
    return AccountPlan(
        account=account,
        seed_key=f"{user.get('seed', 0)}:{bank}:{username}:{key}",
        token=digest.hex()[16:22],
        profile=profile,
        region=CURRENCY_REGION[currency],
        opening_cents=_cents(spec.get("opening_balance", "0.00")),
        income_cents=_cents(spec.get("monthly_income", "0.00")),
        rent_cents=_cents(spec.get("rent", "0.00")),
        deposit_cents=_cents(spec.get("monthly_deposit", "0.00")),
        card_rate=float(spec.get("card_rate", 0.0)),
        limit_cents=_cents(spec.get("credit_limit", "0.00")),
        anomaly_rate=float(spec.get("anomaly_rate", 0.0)),
        schedules=float(spec.get("schedules", 0.0)),
    )


@functools.cache
def account_plans(bank: str, username: str) -> tuple[AccountPlan, ...]:
    bank_info(bank)
    user = user_definition(username)
    specs = user.get("accounts", {}).get(bank, [])
    plans = tuple(_build_plan(bank, user, i, spec) for i, spec in enumerate(specs))
    ids = [p.account.id for p in plans]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{username}@{bank}: duplicate account keys")
    return plans


def account_plan(bank: str, username: str, account_id: str) -> AccountPlan:
    for plan in account_plans(bank, username):
        if plan.account.id == account_id:
            return plan
    raise UnknownAccount(bank, username, account_id)
