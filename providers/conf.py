"""App settings objects: each option's default declared once, read with attribute access.

The pattern of django-oauth-toolkit's ``oauth2_provider/settings.py``: a namespaced dict in the Django settings
(``AGGREGATOR = {...}``, ``CONSENT = {...}``) holds what the deployment sets; an :class:`AppSettings` object
declares every option's default and answers ``provider_settings.HTTP_READ_TIMEOUT``. Values are cached and
dropped whenever the namespaced setting changes (``override_settings``, pytest-django's ``settings``).

``provider_settings`` holds the options of this layer (adapters, HTTP client, credential keys, bank-side
consent length); the aggregator and consent apps declare theirs in ``aggregator/conf.py`` and ``consent/conf.py``
with the same class. All three read parts of the one ``AGGREGATOR`` dict, except ``consent``'s ``CONSENT``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

__all__ = ["PROVIDER_DEFAULTS", "AppSettings", "provider_settings"]


class AppSettings:
    """Attribute access to ``settings.<namespace>[KEY]`` with declared defaults; unknown keys are an error."""

    def __init__(self, namespace: str, defaults: Mapping[str, Any]) -> None:
        self.namespace = namespace
        self.defaults = dict(defaults)
        self._cached: set[str] = set()
        setting_changed.connect(self._on_setting_changed, weak=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self.defaults:
            raise AttributeError(f"{self.namespace} has no option {name!r}")
        user = getattr(settings, self.namespace, None) or {}
        value = user.get(name, self.defaults[name])
        self._cached.add(name)
        setattr(self, name, value)
        return value

    def reload(self) -> None:
        for name in self._cached:
            self.__dict__.pop(name, None)
        self._cached.clear()

    def _on_setting_changed(self, *, setting: str, **kwargs: Any) -> None:
        if setting == self.namespace:
            self.reload()


PROVIDER_DEFAULTS: dict[str, Any] = {
    # Adapters by dotted path; each class declares a unique ``name`` used by Institution.provider.
    "ADAPTERS": [
        "providers.adapters.obie.OBIEAdapter",
        "providers.adapters.berlin_group.BerlinGroupAdapter",
        "providers.adapters.cursor_delta.CursorDeltaAdapter",
    ],
    # Entry-point group scanned for extra adapters (empty: off).
    "ADAPTER_ENTRY_POINT_GROUP": "aggregator.adapters",
    # Per-institution adapter options merged over Institution.config (secrets of a real bank's client).
    "INSTITUTIONS": {},
    # MultiFernet keys for upstream bank credentials, newest first. Local runs generate one into DATA_DIR.
    "CREDENTIAL_KEYS": [],
    # Longest consent, ours and the bank-side one the adapters ask for (days).
    "CONSENT_MAX_DAYS": 90,
    # The shared HTTP client (providers.http).
    "HTTP_CONNECT_TIMEOUT": 5.0,
    "HTTP_READ_TIMEOUT": 30.0,
    "HTTP_MAX_RESPONSE_BYTES": 20 * 1024 * 1024,
    "HTTP_MAX_RETRIES": 4,
    "HTTP_RETRY_INITIAL": 0.5,
    "HTTP_RETRY_MAX_WAIT": 10.0,
    "HTTP_MAX_CONNECTIONS": 50,
    # A bank's Retry-After longer than this is not waited for in-process: the error goes to the caller.
    "HTTP_MAX_RETRY_AFTER": 30.0,
    # Third-party destinations (webhook URLs) may be loopback/private addresses and plain http: local and test
    # runs only (settings turn it on there); production refuses them (providers.destinations).
    "ALLOW_PRIVATE_DESTINATIONS": False,
}

provider_settings = AppSettings("AGGREGATOR", PROVIDER_DEFAULTS)
