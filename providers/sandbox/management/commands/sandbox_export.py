"""``manage.py sandbox_export BANK USER``: the canonical ground-truth JSON of a sandbox bank for one user.

The format is documented in :mod:`providers.sandbox.export`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.sandbox.bankdata import BANKS, UnknownBank, UnknownUser, all_users
from providers.sandbox.export import export_json


def _parse_as_of(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--as-of {value!r} is not an ISO 8601 datetime (e.g. 2026-01-31T12:00:00Z)") from None
    if moment.tzinfo is None:
        raise CommandError(f"--as-of {value!r} needs a timezone (e.g. a trailing Z for UTC)")
    return moment.astimezone(UTC)


class Command(BaseCommand):
    help = (
        "Print everything a sandbox bank holds for a user (accounts, balances, transactions) as canonical JSON, "
        "at the sandbox clock's now (or --as-of)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bank", help=f"one of: {', '.join(BANKS)}")
        parser.add_argument("user", help="a sandbox username, e.g. alice")
        parser.add_argument("--as-of", dest="as_of", help="ISO datetime to export at instead of the sandbox clock")
        parser.add_argument("--compact", action="store_true", help="one line, no indentation")
        parser.add_argument(
            "--labels",
            action="store_true",
            help="add the generator's ground truth to each transaction (category, counterparty, stream, anomaly, MCC)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        bank, user = options["bank"], options["user"]
        if bank not in BANKS:
            raise CommandError(f"unknown bank {bank!r}; valid banks: {', '.join(BANKS)}")
        names = [u.username for u in all_users()]
        if user not in names:
            raise CommandError(f"unknown user {user!r}; valid users: {', '.join(names)}")
        now = _parse_as_of(options["as_of"]) if options["as_of"] else None
        try:
            text = export_json(bank, user, now=now, indent=None if options["compact"] else 2, labels=options["labels"])
        except (UnknownBank, UnknownUser) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(text, ending="")
