"""``python manage.py sync [--connection ID | --user USERNAME | --all]``: sync bank connections now, in this
process, with a progress bar and a summary table. Exit status 1 when a sync did not succeed.

``--connection`` takes the connection's public id (UUID) or its database id. ``--all`` takes every connection
that is active or in error (``reauth_required`` and ``disconnected`` ones need the user first).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aggregator.base_url import unreachable_message, unreachable_reason
from aggregator.models import Connection, SyncRun
from aggregator.sync.dispatch import DISPATCHABLE_STATUSES
from aggregator.sync.services import connection_sync
from providers.base import ProviderError

_STYLE = {
    SyncRun.Outcome.SUCCEEDED: "green",
    SyncRun.Outcome.SKIPPED: "yellow",
    SyncRun.Outcome.RATE_LIMITED: "yellow",
    SyncRun.Outcome.REAUTH_REQUIRED: "magenta",
    SyncRun.Outcome.FAILED: "red",
}


class Command(BaseCommand):
    help = "Sync bank connections now (in this process) and print a summary."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--connection", metavar="ID", help="a connection's public id (UUID) or database id")
        target.add_argument("--user", metavar="USERNAME", help="every connection of this user")
        target.add_argument("--all", action="store_true", help="every active connection (and those in error)")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        connections = self._connections(options)
        self._check_sandbox_reachable(connections)
        console = Console(file=self.stdout, force_terminal=False, width=220, soft_wrap=False)
        runs: list[tuple[Connection, SyncRun]] = []
        with Progress(
            TextColumn("[bold]syncing[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(file=self.stderr),
            transient=False,
        ) as progress:
            task = progress.add_task("", total=len(connections))
            for connection in connections:
                progress.update(task, description=f"{connection.user} @ {connection.institution.slug}")
                runs.append((connection, self._sync_one(connection)))
                progress.advance(task)

        table = Table(title=f"{len(runs)} sync(s)")
        table.add_column("connection", no_wrap=True, min_width=36)
        for column in ("user", "bank", "outcome"):
            table.add_column(column, no_wrap=True)
        for column in ("accounts", "added", "modified", "removed", "secs"):
            table.add_column(column, justify="right", no_wrap=True)
        table.add_column("error", overflow="fold", max_width=80)
        for connection, run in runs:
            style = _STYLE.get(run.outcome, "")
            duration = run.duration_seconds
            table.add_row(
                str(connection.public_id),
                connection.user.get_username(),
                connection.institution.slug,
                f"[{style}]{run.outcome}[/]" if style else run.outcome,
                str(run.accounts_count),
                str(run.added_count),
                str(run.modified_count),
                str(run.removed_count),
                f"{duration:.2f}" if duration is not None else "-",
                f"{run.error_code}: {run.error_detail}"[:200] if run.error_code else "",
            )
        console.print(table)
        bad = [run for _, run in runs if run.outcome not in (SyncRun.Outcome.SUCCEEDED, SyncRun.Outcome.SKIPPED)]
        if bad:
            raise CommandError(f"{len(bad)} of {len(runs)} sync(s) did not succeed (see the table above).")

    def _check_sandbox_reachable(self, connections: list[Connection]) -> None:
        """Sandbox banks are served by `make run`: fail at once, naming the URL, when nothing listens there."""
        if not any((c.institution.config or {}).get("sandbox_bank") for c in connections):
            return
        url = settings.SANDBOX_BASE_URL
        reason = unreachable_reason(url)
        if reason is not None:
            raise CommandError(unreachable_message(url, reason, data_dir=settings.DATA_DIR))

    def _sync_one(self, connection: Connection) -> SyncRun:
        run = SyncRun.objects.create(connection=connection, trigger=SyncRun.Trigger.MANUAL)
        try:
            return connection_sync(connection=connection, trigger=SyncRun.Trigger.MANUAL, sync_run=run)
        except ProviderError:
            # Transient errors are re-raised for Celery to retry; here the run already records what happened.
            run.refresh_from_db()
            return run

    def _connections(self, options: dict) -> list[Connection]:
        qs = Connection.objects.select_related("user", "institution").order_by("pk")
        if options["connection"]:
            value = options["connection"].strip()
            try:
                lookup = {"public_id": uuid.UUID(value)} if not value.isdigit() else {"pk": int(value)}
            except ValueError:
                raise CommandError(f"--connection must be a connection's UUID or numeric id, not {value!r}.") from None
            connection = qs.filter(**lookup).first()
            if connection is None:
                raise CommandError(f"No connection with id {value!r}.")
            return [connection]
        if options["user"]:
            username = options["user"]
            user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
            if user is None:
                raise CommandError(f"No user named {username!r}.")
            connections = list(qs.filter(user=user))
            if not connections:
                raise CommandError(f"User {username!r} has no bank connections; connect one first (sandbox_connect).")
            return connections
        connections = list(qs.filter(status__in=DISPATCHABLE_STATUSES))
        if not connections:
            raise CommandError("There are no active connections to sync.")
        return connections
