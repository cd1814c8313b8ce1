"""Models of the sandbox mock banks (their own OAuth clients, consents and tokens live here too)."""

from __future__ import annotations

from django.db import models

__all__ = ["SandboxClock"]


class SandboxClock(models.Model):
    """A single row: how far the sandbox clock runs ahead of real time (see ``sandbox_clock``)."""

    offset_seconds = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"sandbox clock +{self.offset_seconds}s"
