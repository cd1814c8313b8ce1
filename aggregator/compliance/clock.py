"""The compliance clock: the instant every regulatory clock (reconfirmation, re-authentication, authorisation
lifetime, unattended-access windows, retention) is measured at.

With the sandbox banks on, it is the sandbox clock (``manage.py sandbox_clock --advance 90d`` moves the banks'
consents and our clocks together, so a day-91 test is a real run, not a patched ``now``); otherwise real UTC time.
``AGGREGATOR["COMPLIANCE_CLOCK"]`` chooses: ``"sandbox"`` or ``"real"`` (default: sandbox when
``SANDBOX_ENABLED``).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from ..conf import aggregator_settings

__all__ = ["compliance_clock_name", "compliance_now"]

_SANDBOX_NOW = "providers.sandbox.clock.sandbox_now"


def compliance_clock_name() -> str:
    """``"sandbox"`` or ``"real"``."""
    configured = aggregator_settings.COMPLIANCE_CLOCK
    if configured in ("sandbox", "real"):
        return configured
    return "sandbox" if getattr(settings, "SANDBOX_ENABLED", False) else "real"


def compliance_now() -> datetime:
    """Now, timezone-aware UTC, on the compliance clock."""
    if compliance_clock_name() == "sandbox":
        # Loaded by name: the sandbox app (and its clock model) is installed only when the sandbox is on.
        return import_string(_SANDBOX_NOW)()
    return timezone.now()
