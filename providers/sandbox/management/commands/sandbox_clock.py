"""``manage.py sandbox_clock [--advance 3d|12h|90m|1d12h] [--reset]``: show or move the sandbox clock."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.sandbox.clock import (
    clock_advance,
    clock_offset,
    clock_reset,
    format_duration,
    parse_duration,
    sandbox_now,
)
from providers.sandbox.export import format_datetime


class Command(BaseCommand):
    help = (
        "Show the sandbox clock, move it forward (--advance 3d, 12h, 90m, 45s, 2w or combined like 1d12h) "
        "or set it back to real time (--reset). Shared by every process using the same database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--advance", metavar="DURATION", help="move forward, e.g. 3d, 12h, 90m, 1d12h")
        group.add_argument("--reset", action="store_true", help="back to real time (offset 0)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["reset"]:
            clock_reset()
        elif options["advance"] is not None:
            try:
                seconds = parse_duration(options["advance"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            if seconds <= 0:
                raise CommandError("--advance needs a positive duration (the clock only moves forward; use --reset)")
            clock_advance(seconds)
        offset = clock_offset()
        self.stdout.write(f"sandbox now: {format_datetime(sandbox_now())} (offset +{format_duration(offset)})")
