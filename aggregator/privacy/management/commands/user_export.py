"""Export everything we hold about one user (GDPR Art. 15/20) as a zip archive.

    manage.py user_export USER [--output FILE] [--queue]

USER is a username or an email address. By default the archive is built here and now (the same service the
task runs), its path and download link printed; ``--output`` also copies it to FILE. ``--queue`` only queues the
export for the worker (as the dashboard and the admin do) and prints its id.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from aggregator.privacy.export import data_export_build, data_export_path, data_export_request
from aggregator.privacy.links import export_download_path
from aggregator.privacy.models import DataExport
from aggregator.privacy.selectors import UserNotFoundError, user_find


class Command(BaseCommand):
    help = "Export every piece of personal data held about a user (zip of JSON files and transactions.csv)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="Username or email address")
        parser.add_argument("--output", type=Path, help="Also copy the archive to this file")
        parser.add_argument("--queue", action="store_true", help="Queue the export for the worker and return")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = user_find(identifier=options["user"])
        except UserNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        output: Path | None = options["output"]
        if output is not None and not output.parent.is_dir():
            raise CommandError(f"The folder of {output} does not exist.")
        if options["queue"]:
            export = data_export_request(user=user, requested_by="cli")
            self.stdout.write(f"Export {export.public_id} of {user.get_username()} queued.")
            return
        with transaction.atomic():
            export = DataExport.objects.create(user=user, requested_by="cli")
        data_export_build(export=export)
        if export.status != DataExport.Status.DONE:
            raise CommandError(f"The export failed ({export.error}); see the log.")
        path = data_export_path(export)
        if output is not None:
            shutil.copyfile(path, output)
            path = output
        base = getattr(settings, "PUBLIC_BASE_URL", "") or ""
        self.stdout.write(f"Archive: {path}")
        for name, count in export.counts.items():
            self.stdout.write(f"  {name}: {count}")
        self.stdout.write(
            f"Download link (until {export.expires_at:%Y-%m-%d %H:%M} UTC): {base}{export_download_path(export)}"
        )
