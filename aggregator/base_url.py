"""Where this deployment is reachable, for processes that are not the web server (``manage.py`` in a second
terminal, the Celery worker).

``make run`` records the public URL it serves (``http://127.0.0.1:$PORT``) in ``DATA_DIR/public_base_url``;
``aggregator/settings.py`` reads that file as the default of ``PUBLIC_BASE_URL`` when neither
``PUBLIC_BASE_URL`` nor ``PORT`` is set, so ``PORT=9000 make run`` and a plain ``manage.py sync`` agree.
:func:`unreachable_reason` is a cheap pre-flight check (a TCP connect, no HTTP) that lets a command fail at once
with :func:`unreachable_message` instead of spending its retries on a port nobody listens on.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["RECORD_FILE_NAME", "read_recorded_base_url", "unreachable_message", "unreachable_reason"]

RECORD_FILE_NAME = "public_base_url"


def read_recorded_base_url(data_dir: Path) -> str:
    """The URL ``make run`` recorded in ``data_dir`` (``""`` when there is none)."""
    try:
        return (data_dir / RECORD_FILE_NAME).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return ""


def unreachable_reason(url: str, *, timeout: float = 2.0) -> str | None:
    """``None`` when something accepts TCP connections at ``url``'s host and port, else why not."""
    parts = urlsplit(url)
    if not parts.hostname:
        return f"{url!r} is not an absolute URL"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


def unreachable_message(url: str, reason: str, *, data_dir: Path) -> str:
    recorded = read_recorded_base_url(data_dir)
    where = (
        f"`make run` last recorded {recorded} in {data_dir / RECORD_FILE_NAME}"
        if recorded
        else f"no `make run` has recorded its URL in {data_dir / RECORD_FILE_NAME}"
    )
    return (
        f"Could not reach {url} ({reason}). Is `make run` running? ({where}.) If the server runs elsewhere, "
        "set PUBLIC_BASE_URL (e.g. PUBLIC_BASE_URL=http://127.0.0.1:9000 for `PORT=9000 make run`) or, for the "
        "sandbox banks only, SANDBOX_BASE_URL."
    )
