"""Erase a user's personal data (GDPR Art. 17): revoke every consent (the apps are told), disconnect every bank
(revoking the bank-side consent where the bank allows), delete the data, keep the evidence pseudonymised.

    manage.py user_erase USER [--yes]

USER is a username or an email address. Without ``--yes`` the command asks to type the username to confirm.
See docs/privacy.md for what is deleted and what is kept.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from aggregator.privacy.erasure import user_erase, user_is_erased
from aggregator.privacy.selectors import UserNotFoundError, user_find


class Command(BaseCommand):
    help = "Erase every piece of personal data of a user that the law does not require us to keep."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="Username or email address")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = user_find(identifier=options["user"])
        except UserNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        username = user.get_username()
        if user_is_erased(user=user):
            self.stdout.write(f"{username} was already erased: nothing to do.")
            return
        if not options["yes"]:
            self.stdout.write(
                f"This revokes every consent of {username}, disconnects their banks and deletes their data. "
                "It cannot be undone."
            )
            answer = input(f"Type the username ({username}) to confirm: ")
            if answer.strip() != username:
                raise CommandError("Not confirmed: nothing was erased.")
        result = user_erase(user=user, requested_by="cli")
        self.stdout.write(f"Erased. Pseudonym kept with the evidence: erased-{result.subject}")
        self.stdout.write(f"  consents revoked: {result.consents_revoked}")
        for connection_id, bank in result.banks.items():
            self.stdout.write(f"  bank connection {connection_id}: bank-side consent {bank}")
        for name, count in result.counts.items():
            if count:
                self.stdout.write(f"  {name}: {count}")
