#!/usr/bin/env python3
"""A tiny third-party app (TPP) against the aggregator: the whole dance of docs/tpp-quickstart.md in one script.

    python docs/examples/tpp_example.py --register                        # a person approves in the browser
    python docs/examples/tpp_example.py --register --user alice --password alice-demo   # headless (CI)

What it does, in order:

1. client credentials: ``--client-id``/``--client-secret`` (or ``TPP_CLIENT_ID``/``TPP_CLIENT_SECRET``), or
   ``--register``, which runs ``manage.py create_tpp`` once and keeps the credentials in
   ``$DATA_DIR/tpp_example.json`` (default ``var/``, mode 0600, never in the repository);
2. a client-credentials token (scope ``consents``) and ``POST /api/v1/consents``;
3. an authorize URL with PKCE S256 and ``state``, and a local callback server on ``http://127.0.0.1:8765/callback``
   that receives the code (no copying a 60-second code from an error page);
4. the user logs in to the aggregator, reads the consent screen, connects a sandbox bank if needed (logging in and
   approving on **the bank's own pages**) and approves. Interactive: in your browser. Headless (``--user``): this
   script submits the same forms with httpx, like a browser would;
5. the code is exchanged (with the PKCE verifier) for an access and a refresh token; the refresh token is rotated
   once;
6. it reads the accounts, their balances and every transaction, and walks ``/api/v1/transactions/sync`` to the end.

Needs only the standard library and httpx. Exits non-zero on any failure (CI runs it against ``make run``).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import subprocess
import sys
import threading
import webbrowser
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
SCOPES = ["accounts", "balances", "transactions"]


class Failure(Exception):
    """Something the TPP cannot go on from; the message says what."""


def log(message: str) -> None:
    print(f"[tpp] {message}", flush=True)


def data_dir() -> Path:
    return Path(os.environ.get("DATA_DIR") or ROOT / "var")


def default_base_url() -> str:
    """PUBLIC_BASE_URL, else the URL `make run` recorded in DATA_DIR/public_base_url, else port 8000."""
    if os.environ.get("PUBLIC_BASE_URL"):
        return os.environ["PUBLIC_BASE_URL"]
    recorded = data_dir() / "public_base_url"
    if recorded.is_file() and recorded.read_text().strip():
        return recorded.read_text().strip()
    return "http://127.0.0.1:8000"


# --- 1. credentials -------------------------------------------------------------------------------------------
def credentials(args: argparse.Namespace, redirect_uri: str) -> dict[str, str]:
    client_id = args.client_id or os.environ.get("TPP_CLIENT_ID", "")
    client_secret = args.client_secret or os.environ.get("TPP_CLIENT_SECRET", "")
    if client_id and client_secret:
        return {"client_id": client_id, "client_secret": client_secret, "redirect_uri": redirect_uri}
    store = data_dir() / "tpp_example.json"
    if store.is_file():
        saved = json.loads(store.read_text())
        if saved.get("redirect_uri") == redirect_uri and saved.get("base_url") == args.base_url:
            log(f"using the app registered earlier ({store})")
            return saved
    if not args.register:
        raise Failure("no client credentials: pass --register, or --client-id/--client-secret (TPP_CLIENT_ID/…)")
    log(f"registering the app with manage.py create_tpp (redirect URI {redirect_uri})")
    result = subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
        [sys.executable, "manage.py", "create_tpp", "TPP example", "--redirect-uri", redirect_uri, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise Failure(f"create_tpp failed: {result.stderr.strip()[-500:]}")
    saved = {**json.loads(result.stdout), "redirect_uri": redirect_uri, "base_url": args.base_url}
    store.parent.mkdir(parents=True, exist_ok=True)
    store.touch(mode=0o600)
    store.write_text(json.dumps(saved))
    log(f"credentials kept in {store} (mode 0600; outside git)")
    return saved


# --- 3. the local callback server -----------------------------------------------------------------------------
class CallbackServer:
    """Receives one ``GET /callback?code=…&state=…`` (or ``?error=…``) on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.result: dict[str, str] = {}
        self.received = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/callback":
                    self.send_error(404)
                    return
                outer.result = {k: v[0] for k, v in parse_qs(parts.query).items()}
                outer.received.set()
                body = b"<!doctype html><title>Done</title><p>Done: you can close this window and go back to the app."
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CallbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, timeout: float) -> dict[str, str]:
        if not self.received.wait(timeout):
            raise Failure(f"no callback within {timeout:.0f} s")
        return self.result


# --- 4. headless user: submit the pages' forms like a browser -----------------------------------------------
class Page(HTMLParser):
    """The forms (action, method, fields, checkboxes, submit buttons) and links of an HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.links: list[dict[str, str]] = []
        self._form: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": [],
                          "checkboxes": [], "submits": []}  # fmt: skip
            self.forms.append(self._form)
        elif tag == "a" and a.get("href"):
            self.links.append(a)
        elif self._form is not None and tag in ("input", "button") and a.get("name"):
            kind = a.get("type", "submit" if tag == "button" else "text").lower()
            if kind == "checkbox":
                self._form["checkboxes"].append((a["name"], a.get("value", "on"), "checked" in a))
            elif kind == "submit":
                self._form["submits"].append((a["name"], a.get("value", "")))
            elif kind not in ("button", "reset", "file"):
                self._form["fields"].append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def _body(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Form fields as httpx wants them (a name may repeat: every ticked account)."""
    body: dict[str, list[str]] = {}
    for name, value in pairs:
        body.setdefault(name, []).append(value)
    return body


def _press(form: dict, word: str) -> list[tuple[str, str]]:
    for name, value in form["submits"]:
        if word in value.lower():
            return [(name, value)]
    raise Failure(f"no {word!r} button in the form {form['action']!r}")


class HeadlessUser:
    """Alice in a browser: logs in, connects a sandbox bank when she has no account yet, approves."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.http = httpx.Client(timeout=30, follow_redirects=False)
        self.connected = False
        self.logged_in: set[str] = set()

    def approve(self, authorize_url: str, callback_prefix: str) -> None:
        response = self.http.get(authorize_url)
        for _ in range(40):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(callback_prefix):
                    self.http.get(location)  # the browser lands on our callback server
                    return
                response = self.http.get(location)
                continue
            if response.status_code != 200:
                raise Failure(f"{response.url} answered {response.status_code}: {response.text[:300]}")
            response = self.step(response)
        raise Failure("the authorization flow did not end at the callback")

    def step(self, response: httpx.Response) -> httpx.Response:
        url = urlsplit(str(response.url))
        page = Page(response.text)
        # The page's own form: not the logout form of the site's header.
        form = next((f for f in page.forms if f["method"] == "post" and "logout" not in f["action"]), None)
        if form is None:
            raise Failure(f"no form on {response.url}: {response.text[:300]}")
        names = {n for n, _ in form["fields"]}
        target = urljoin(str(response.url), form["action"] or url.path)
        data = [(n, v) for n, v in form["fields"] if n not in ("username", "password")]
        if {"username", "password"} <= names:
            on_bank = url.path.startswith("/sandbox/")
            user, password = (
                (self.args.bank_user or self.args.user, self.args.bank_password)
                if on_bank
                else (self.args.user, self.args.password)
            )
            where = "the bank" if on_bank else "the aggregator"
            if url.path in self.logged_in:
                raise Failure(f"{where} refused the login of {user!r} ({url.path})")
            self.logged_in.add(url.path)
            log(f"logging in as {user} at {where} ({url.path})")
            return self.http.post(target, data=_body([*data, ("username", user), ("password", password)]))
        accounts = [(n, v, checked) for n, v, checked in form["checkboxes"] if n == "accounts"]
        if url.path.startswith("/sandbox/"):
            log(f"approving at the bank's own page: sharing {len(accounts)} account(s)")
            return self.http.post(
                target, data=_body([*data, *((n, v) for n, v, _ in accounts), *_press(form, "approve")])
            )
        # Our consent screen.
        if not accounts:
            if self.connected:
                raise Failure("the bank connection gave no accounts to share")
            link = next((a for a in page.links if a.get("data-slug") == self.args.bank), None)
            if link is None:
                raise Failure(f"the consent screen offers no bank {self.args.bank!r}")
            log(f"no accounts yet: connecting the sandbox bank {self.args.bank}")
            self.connected = True
            return self.http.get(urljoin(str(response.url), link["href"]))
        ticked = [(n, v) for n, v, checked in accounts if checked] or [(n, v) for n, v, _ in accounts]
        log(f"approving the consent on the consent screen, sharing {len(ticked)} account(s)")
        return self.http.post(target, data=_body([*data, *ticked, *_press(form, "approve")]))


# --- 2, 5, 6: the TPP's own calls ------------------------------------------------------------------------------
def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def check(response: httpx.Response, *expected: int) -> dict:
    if response.status_code not in expected:
        raise Failure(
            f"{response.request.method} {response.request.url} → {response.status_code}: {response.text[:500]}"
        )
    return response.json() if response.content else {}


def read_everything(api: httpx.Client) -> None:
    accounts = check(api.get("/api/v1/accounts"), 200)["data"]
    log(f"{len(accounts)} account(s)")
    for account in accounts:
        balances = check(api.get(f"/api/v1/accounts/{account['id']}/balances"), 200)["data"]
        count, url = 0, f"/api/v1/accounts/{account['id']}/transactions?page_size=100"
        while url:
            page = check(api.get(url), 200)
            count += len(page["data"])
            url = page["links"]["next"]
        shown = ", ".join(f"{b.get('type')} {b.get('amount')} {b.get('currency')}" for b in balances)
        log(f"  {account.get('display_name') or account['id']}: {count} transaction(s); balances: {shown}")
    added = modified = removed = pages = 0
    cursor = ""
    while True:
        body = check(api.get("/api/v1/transactions/sync", params={"cursor": cursor} if cursor else {}), 200)["data"]
        pages += 1
        added += len(body["added"])
        modified += len(body["modified"])
        removed += len(body["removed"])
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    log(f"delta feed walked in {pages} page(s): {added} added, {modified} modified, {removed} removed")
    log(f"next time, call /api/v1/transactions/sync?cursor={cursor}")


def run(args: argparse.Namespace) -> None:
    base = args.base_url.rstrip("/")
    redirect_uri = f"http://127.0.0.1:{args.callback_port}/callback"
    creds = credentials(args, redirect_uri)
    auth = (creds["client_id"], creds["client_secret"])
    with httpx.Client(base_url=base, timeout=30) as http:
        app_token = check(
            http.post("/oauth/token/", data={"grant_type": "client_credentials", "scope": "consents"}, auth=auth), 200
        )["access_token"]
        now = dt.datetime.now(dt.UTC)
        consent = check(
            http.post(
                "/api/v1/consents",
                headers={"Authorization": f"Bearer {app_token}"},
                json={
                    "permissions": SCOPES,
                    "expires_at": (now + dt.timedelta(days=30)).isoformat(),
                    "transactions_from": (now - dt.timedelta(days=365)).replace(hour=0, minute=0, second=0).isoformat(),
                },
            ),
            201,
        )["data"]
        log(f"consent {consent['id']} created ({consent['status']})")

        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        query = {"response_type": "code", "client_id": creds["client_id"], "redirect_uri": redirect_uri,
                 "scope": " ".join(SCOPES), "state": state, "code_challenge": challenge,
                 "code_challenge_method": "S256", "consent_id": consent["id"]}  # fmt: skip
        authorize_url = f"{base}/oauth/authorize/?{urlencode(query)}"
        with CallbackServer(args.callback_port) as callback:
            if args.user:
                HeadlessUser(args).approve(authorize_url, redirect_uri)
            else:
                log("open this URL, log in, connect a sandbox bank if asked (alice / sandbox) and approve:")
                print(f"\n    {authorize_url}\n", flush=True)
                if not args.no_browser:
                    webbrowser.open(authorize_url)
            params = callback.wait(args.timeout)
        if params.get("error"):
            raise Failure(f"authorization refused: {params['error']} {params.get('error_description', '')}")
        if params.get("state") != state:
            raise Failure("the callback's state is not ours: refusing the code")
        log("callback received the code; exchanging it with the PKCE verifier")
        tokens = check(
            http.post("/oauth/token/", auth=auth, data={"grant_type": "authorization_code", "code": params["code"],
                                                        "redirect_uri": redirect_uri, "code_verifier": verifier}),
            200,
        )  # fmt: skip
        tokens = check(
            http.post("/oauth/token/", auth=auth, data={"grant_type": "refresh_token",
                                                        "refresh_token": tokens["refresh_token"]}),
            200,
        )  # fmt: skip
        log(f"tokens rotated once; access token valid {tokens['expires_in']} s, scope {tokens['scope']!r}")
    with httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {tokens['access_token']}"}) as api:
        read_everything(api)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--base-url", default=default_base_url(), help="the aggregator (default: %(default)s)")
    parser.add_argument("--client-id", default="")
    parser.add_argument("--client-secret", default="")
    parser.add_argument("--register", action="store_true", help="register the app with manage.py create_tpp if needed")
    parser.add_argument("--callback-port", type=int, default=8765)
    parser.add_argument("--user", default="", help="headless: the aggregator user to log in as (e.g. alice)")
    parser.add_argument("--password", default="alice-demo", help="headless: that user's password")
    parser.add_argument("--bank", default="albion", help="headless: the sandbox bank to connect if needed")
    parser.add_argument("--bank-user", default="", help="headless: the bank login (default: --user)")
    parser.add_argument("--bank-password", default="sandbox", help="headless: the bank password")
    parser.add_argument("--no-browser", action="store_true", help="only print the authorize URL")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the callback")
    args = parser.parse_args(argv)
    try:
        run(args)
    except (Failure, httpx.HTTPError) as exc:
        log(f"FAILED: {exc}")
        return 1
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
