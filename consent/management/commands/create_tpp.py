"""``python manage.py create_tpp NAME --redirect-uri URI [--redirect-uri …] [--webhook-url URL] [--json]
[--profile fapi2 (--jwks FILE | --jwks-uri URL)]``.

Prints the client id and the plaintext client secret once (only a hash is stored). With ``--webhook-url`` a
webhook signing secret is generated and printed once too. A FAPI 2.0 client (``--profile fapi2``) registers its
public keys instead and gets no secret: it authenticates with ``private_key_jwt``.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

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
        parser.add_argument("--profile", choices=["baseline", "fapi2"], default="baseline")
        parser.add_argument("--jwks", default="", help="A file with the client's public JWKS (private_key_jwt).")
        parser.add_argument("--jwks-uri", default="", help="The URL of the client's public JWKS (private_key_jwt).")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        webhook_secret = secrets.token_urlsafe(32) if options["webhook_url"] else ""
        jwks = None
        if options["jwks"]:
            try:
                jwks = json.loads(Path(options["jwks"]).read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"--jwks: cannot read a JSON JWKS from {options['jwks']!r} ({exc}).") from exc
        try:
            tpp = tpp_create(
                name=options["name"],
                redirect_uris=options["redirect_uris"],
                webhook_url=options["webhook_url"],
                webhook_secret=webhook_secret,
                profile=options["profile"],
                jwks=jwks,
                jwks_uri=options["jwks_uri"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if options["json"]:
            out = {"client_id": tpp.client_id, "profile": tpp.application.profile}
            if tpp.client_secret:
                out["client_secret"] = tpp.client_secret
            if webhook_secret:
                out["webhook_secret"] = webhook_secret
            self.stdout.write(json.dumps(out))
            return
        self.stdout.write(f"Registered {tpp.application.name}")
        self.stdout.write(f"client_id:     {tpp.client_id}")
        if not tpp.client_secret:
            self.stdout.write("profile:       fapi2 (private_key_jwt with your registered keys, PAR, DPoP)")
            if webhook_secret:
                self.stdout.write(f"webhook_secret: {webhook_secret}")
            return
        self.stdout.write(f"client_secret: {tpp.client_secret}")
        if webhook_secret:
            self.stdout.write(f"webhook_secret: {webhook_secret}")
        self.stdout.write("Store the secret(s) now: they are not shown again.")
