"""Connect a local user to a sandbox bank through the bank's real OAuth redirect flow, driven server-side.

    python manage.py sandbox_connect --user alice --bank albion [--password sandbox] [--no-sync]

Same code path as a person in a browser: ``connection_connect_start`` (bank-side consent + authorize URL) →
GET the bank's authorize page → submit its login form (``username``/``password``) → submit the account
selection form as shown (every account ticked) → the bank redirects to our ``/connect/callback/`` with
``code`` and ``state`` → ``connection_connect_complete`` (exactly what the callback view calls). Nothing
bypasses the bank's OAuth. The sandbox must be reachable at ``settings.SANDBOX_BASE_URL`` (``make run``).
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from aggregator.connections.services import ConnectError, connection_connect_complete, connection_connect_start
from aggregator.models import Institution
from aggregator.services import institution_sync_sandbox
from providers.base import ClientRejectedError, ProviderError
from providers.http import BrowserSession, HttpResponse, browser_session
from providers.oauth_errors import oauth_error

__all__ = ["Command", "sandbox_connect"]

MAX_STEPS = 12
SANDBOX_PASSWORD = "sandbox"  # every sandbox test user's documented password


class _Form:
    def __init__(self, action: str, method: str) -> None:
        self.action = action
        self.method = method.upper() or "GET"
        self.fields: list[tuple[str, str]] = []
        self.submits: list[tuple[str, str]] = []
        self.names: set[str] = set()


class _FormParser(HTMLParser):
    """Collects forms: their action, method, the values a browser would submit, and submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self._current: _Form | None = None
        self._select: str | None = None
        self._button: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = _Form(a.get("action", ""), a.get("method", "GET"))
            self.forms.append(self._current)
            return
        form = self._current
        if form is None:
            return
        name = a.get("name", "")
        if tag == "input" and name:
            form.names.add(name)
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    form.fields.append((name, a.get("value", "on")))
            elif kind in ("submit", "image"):
                form.submits.append((name, a.get("value", "")))
            elif kind not in ("button", "reset", "file"):
                form.fields.append((name, a.get("value", "")))
        elif tag == "button" and a.get("type", "submit").lower() == "submit":
            form.submits.append((name, a.get("value", "")))
        elif tag == "select" and name:
            form.names.add(name)
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            form.fields.append((self._select, a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "select":
            self._select = None


def _forms(html: str) -> list[_Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def _approve_button(form: _Form) -> list[tuple[str, str]]:
    """The submit button a person would press: the approving one when there are several."""
    named = [(n, v) for n, v in form.submits if n]
    for name, value in named:
        if any(word in f"{name} {value}".lower() for word in ("approve", "allow", "authori", "accept", "confirm")):
            return [(name, value)]
    return named[:1] if named else []


def sandbox_connect(*, username: str, bank: str, password: str = SANDBOX_PASSWORD, sync: bool = True):  # type: ignore[no-untyped-def]
    """Create or reuse the local user ``username`` and connect them to sandbox bank ``bank``; the Connection."""
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    institution = Institution.objects.filter(slug=bank).first()
    if institution is None and settings.SANDBOX_ENABLED:
        institution_sync_sandbox()
        institution = Institution.objects.filter(slug=bank).first()
    if institution is None:
        raise CommandError(f"unknown institution {bank!r}")

    redirect_uri = settings.PUBLIC_BASE_URL.rstrip("/") + "/connect/callback/"
    try:
        url = connection_connect_start(user=user, institution=institution, redirect_uri=redirect_uri)
    except ConnectError as exc:
        if isinstance(exc.__cause__, ClientRejectedError):
            raise CommandError(f"{exc} ({exc.code}): {exc.__cause__}") from exc
        raise CommandError(f"{exc} ({exc.code}; is the sandbox up at {settings.SANDBOX_BASE_URL}?)") from exc
    try:
        with browser_session() as session:
            params = _drive_bank_login(session, url, redirect_uri=redirect_uri, username=username, password=password)
    except ProviderError as exc:
        raise CommandError(f"the bank's login pages failed: {exc}") from exc
    try:
        return connection_connect_complete(
            state=params.get("state", ""),
            code=params.get("code"),
            error=params.get("error"),
            user=user,
            sync=sync,
        )
    except ConnectError as exc:
        detail = f": {exc.__cause__}" if isinstance(exc.__cause__, ProviderError) else ""
        raise CommandError(f"{exc} ({exc.code}){detail}") from exc


def _drive_bank_login(
    session: BrowserSession, url: str, *, redirect_uri: str, username: str, password: str
) -> dict[str, str]:
    """Walk the bank's pages like a browser until it redirects to ``redirect_uri``; the callback's parameters."""
    method, data = "GET", None
    logged_in = False
    for _ in range(MAX_STEPS):
        response: HttpResponse = session.request(
            method, url, data=data, allow_redirects=True, raise_for_status=False, retries=1, expect_json=False
        )
        if response.is_redirect:
            target = urljoin(url, response.location)
            if target.split("?", 1)[0] == redirect_uri.split("?", 1)[0]:
                query = parse_qs(urlsplit(target).query)
                return {k: v[0] for k, v in query.items()}
            if urlsplit(target).netloc != urlsplit(url).netloc:
                raise CommandError(f"the bank redirected somewhere unexpected: {urlsplit(target).netloc}")
            method, data, url = "GET", None, target
            continue
        forms = [f for f in _forms(response.text) if f.method == "POST"] or _forms(response.text)
        if response.status >= 400:
            if logged_in and any({"username", "password"} <= f.names for f in forms):
                raise CommandError(
                    f"the bank refused the login of {username!r} ({response.status}: wrong password or locked user)"
                )
            said, error = _error_page_text(response.text)
            detail = f": {said}" if said else ""
            if error:  # the bank's page names the OAuth error: say what it means
                detail += f" — {oauth_error(error)}"
            raise CommandError(f"the bank answered {response.status} at {urlsplit(url).path}{detail}")
        if not forms:
            raise CommandError(f"no form on the bank page {urlsplit(url).path}")
        login = next((f for f in forms if {"username", "password"} <= f.names), None)
        if login is not None:
            if logged_in:
                raise CommandError(f"the bank refused the login of {username!r} (wrong password or locked user)")
            fields = [(n, v) for n, v in login.fields if n not in ("username", "password")]
            fields += [("username", username), ("password", password), *_approve_button(login)]
            form, logged_in = login, True
        else:
            form = forms[0]
            fields = form.fields + _approve_button(form)
        method = form.method
        url = urljoin(url, form.action) if form.action else url
        data = _as_form_data(fields)
        if method == "GET":
            url = url.split("?", 1)[0] + "?" + urlencode(fields)
            data = None
    raise CommandError("the bank's login did not finish (too many pages)")


_ALERT = re.compile(r'<[^>]*role="alert"[^>]*>(.*?)</', re.S)
_OAUTH_ERROR = re.compile(r'data-oauth-error="([a-z_]{1,64})"')


def _error_page_text(page: str) -> tuple[str, str]:
    """(the alert text of a bank's error page, the OAuth error code it names or "")."""
    alert = _ALERT.search(page)
    error = _OAUTH_ERROR.search(page)
    text = " ".join(html.unescape(alert.group(1)).split())[:300] if alert else ""
    return text, error.group(1) if error else ""


def _as_form_data(fields: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    data: dict[str, str | list[str]] = {}
    for name, value in fields:
        if name in data:
            existing = data[name]
            data[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            data[name] = value
    return data


class Command(BaseCommand):
    help = "Connect a local user to a sandbox bank through the bank's own OAuth login (server-side)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--user", required=True, help="sandbox username (also the local username)")
        parser.add_argument("--bank", required=True, help="sandbox bank: albion, rhein or liberty")
        parser.add_argument(
            "--password", default=SANDBOX_PASSWORD, help="the sandbox user's password (default: sandbox)"
        )
        parser.add_argument("--no-sync", action="store_true", help="do not queue the first sync")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        connection = sandbox_connect(
            username=options["user"], bank=options["bank"], password=options["password"], sync=not options["no_sync"]
        )
        accounts = connection.accounts.filter(removed_at__isnull=True).count()
        self.stderr.write(f"connected {options['user']} at {options['bank']}: {accounts} account(s)")
        self.stdout.write(str(connection.public_id))
