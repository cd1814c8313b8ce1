"""``manage.py ledger_audit``: recompute the whole ledger from its stored leaves and compare it with every stored
hash and signed checkpoint. Exit status 1 on any mismatch."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aggregator.ledger.audit import ledger_audit


class Command(BaseCommand):
    help = "Recompute the ledger's Merkle tree from the stored leaves and check every checkpoint."

    def handle(self, *args: Any, **options: Any) -> None:
        report = ledger_audit()
        for problem in report.problems:
            self.stderr.write(problem)
        if report.problems:
            raise CommandError(f"ledger audit failed: {len(report.problems)} problem(s)")
        self.stdout.write(f"ledger OK: {report.leaves} leaves, {report.checkpoints} checkpoints verified")
