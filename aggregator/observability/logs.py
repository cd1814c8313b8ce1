"""Log formatting: JSON lines in production (``LOG_FORMAT=json``), readable lines locally (``console``).

Every record gets the bound log context (``aggregator.observability.context``) and passes ``RedactFilter``, a
last line of defence that masks what must never reach a log even if a message carries it by mistake: bearer
tokens and ``token=``/``secret=``/``code=``-style values, JWTs, IBANs and long digit runs (account/card
numbers). The code itself logs ids, paths and statuses, never those values.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from .context import LOG_FIELDS, log_context

__all__ = ["ConsoleFormatter", "ContextFilter", "JsonFormatter", "RedactFilter", "redact"]

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization: Bearer …/Basic …
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    # key=value / "key": "value" for sensitive keys
    (
        re.compile(
            r"""(?ix)(\b(?:access_token|refresh_token|id_token|token|client_secret|secret|password|code_verifier|code|
            assertion|client_assertion|authorization|api_key|apikey)\b["']?\s*[:=]\s*["']?)([^\s"'&,;}]{4,})"""
        ),
        r"\1[redacted]",
    ),
    # JWTs (three base64url parts)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    # IBANs: country, check digits, 11-30 alphanumerics (with optional spaces in groups of four)
    (re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"), "[redacted-iban]"),
    # Account / card numbers: 8 or more digits not part of a longer word, id or number with a decimal point
    (re.compile(r"(?<![\w.:-])\d{8,}(?![\w.:-])"), "[redacted-number]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactFilter(logging.Filter):
    """Render the message once, mask it, and store the result (args dropped) before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw template
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class ContextFilter(logging.Filter):
    """Copy the bound log context onto the record (``record.context``) unless a field was set explicitly."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = log_context()
        for key in LOG_FIELDS:
            explicit = getattr(record, key, None)
            if explicit is not None:
                context[key] = str(explicit)
        record.context = context
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the context fields, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "context", None) or {})
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class ConsoleFormatter(logging.Formatter):
    """``time LEVEL logger message [key=value …]`` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = getattr(record, "context", None) or {}
        if context:
            line += " [" + " ".join(f"{key}={context[key]}" for key in LOG_FIELDS if key in context) + "]"
        return line
