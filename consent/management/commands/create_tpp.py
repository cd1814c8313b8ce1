"""``python manage.py create_tpp NAME --redirect-uri URI [--redirect-uri …] [--webhook-url URL] [--json]``.

Prints the client id and the plaintext client secret once (only a hash is stored). With ``--webhook-url`` a
webhook signing secret is generated and printed once too.
"""

from __future__ import annotations

import json
import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from consent.tpp import tpp_create


class Command(BaseCommand):
    help = "Register a third-party app (confidential OAuth2 client) and print its credentials once."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("name")
        parser.add_argument("--redirect-uri", action="append", dest="redirect_uris", required=True)
        parser.add_argument("--webhook-url", default="")
        parser.add_argument("--json", action="store_true", help="Print {client_id, client_secret} as JSON.")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        webhook_secret = secrets.token_urlsafe(32) if options["webhook_url"] else ""
        try:
            tpp = tpp_create(
                name=options["name"],
                redirect_uris=options["redirect_uris"],
                webhook_url=options["webhook_url"],
                webhook_secret=webhook_secret,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if options["json"]:
            out = {"client_id": tpp.client_id, "client_secret": tpp.client_secret}
            if webhook_secret:
                out["webhook_secret"] = webhook_secret
            self.stdout.write(json.dumps(out))
            return
        self.stdout.write(f"Registered {tpp.application.name}")
        self.stdout.write(f"client_id:     {tpp.client_id}")
        self.stdout.write(f"client_secret: {tpp.client_secret}")
        if webhook_secret:
            self.stdout.write(f"webhook_secret: {webhook_secret}")
        self.stdout.write("Store the secret(s) now: they are not shown again.")
