"""Template filters of the user's pages: every time is shown in UTC and says so."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import dateformat

__all__ = ["utc"]

register = template.Library()


@register.filter
def utc(value: dt.datetime | None, fmt: str = "j M Y, H:i") -> str:
    """``29 Nov 2026, 21:05 UTC``; empty for no value. Naive datetimes are never shown (USE_TZ is on)."""
    if not value:
        return ""
    return dateformat.format(value.astimezone(dt.UTC), fmt) + " UTC"
