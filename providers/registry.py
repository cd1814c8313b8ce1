"""The adapter registry: bank dialects loaded once by dotted path, keyed by their unique ``name``.

Sources, in order: ``settings.AGGREGATOR["ADAPTERS"]`` (dotted paths), then the installed packages' entry points
in the group ````provider_settings.ADAPTER_ENTRY_POINT_GROUP```` (empty string: off).
A bad path, a class that is not a ``BankAdapter``, a missing ``name`` or a duplicate name raises
``ImproperlyConfigured`` — at start-up, because ``ProvidersConfig.ready()`` loads the registry. Changing the
``AGGREGATOR`` setting (e.g. ``override_settings`` in tests) reloads it.

``adapter_for(institution)`` builds an adapter for one institution. Its configuration is, from weakest to
strongest: the sandbox defaults when ``institution.config["sandbox_bank"]`` is set (base URL under
``settings.SANDBOX_BASE_URL`` and the bank's demo client from ``fixtures/sandbox/clients.json``), then
``institution.config`` (non-secret options), then ``settings.AGGREGATOR["INSTITUTIONS"][slug]`` (env; secrets such
as a real bank's client secret).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .base import BankAdapter
from .client_keys import sandbox_client_key
from .conf import provider_settings

__all__ = [
    "adapter_class",
    "adapter_classes",
    "adapter_config",
    "adapter_for",
    "adapters_load",
    "registry_reset",
    "sandbox_clients",
]


_lock = threading.Lock()
_registry: dict[str, type[BankAdapter]] | None = None


def _check(candidate: Any, source: str) -> type[BankAdapter]:
    if not (isinstance(candidate, type) and issubclass(candidate, BankAdapter)):
        raise ImproperlyConfigured(f"Adapter {source} is not a providers.base.BankAdapter subclass.")
    name = getattr(candidate, "name", "")
    if not isinstance(name, str) or not name:
        raise ImproperlyConfigured(f"Adapter {source} must declare a non-empty class attribute `name`.")
    return candidate


def adapters_load() -> dict[str, type[BankAdapter]]:
    """Import every configured adapter and validate the set (raises ``ImproperlyConfigured``)."""
    paths = provider_settings.ADAPTERS
    if isinstance(paths, str):
        raise ImproperlyConfigured('AGGREGATOR["ADAPTERS"] must be a list of dotted paths, not a string.')
    loaded: dict[str, type[BankAdapter]] = {}
    sources: dict[str, str] = {}

    def add(cls: type[BankAdapter], source: str) -> None:
        if cls.name in loaded:
            raise ImproperlyConfigured(
                f"Duplicate adapter name {cls.name!r}: {sources[cls.name]} and {source}. Names must be unique."
            )
        loaded[cls.name] = cls
        sources[cls.name] = source

    for path in paths:
        try:
            candidate = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(f"Cannot import adapter {path!r} from AGGREGATOR['ADAPTERS']: {exc}") from exc
        add(_check(candidate, path), path)

    group = provider_settings.ADAPTER_ENTRY_POINT_GROUP
    if group:
        for ep in entry_points(group=group):
            try:
                candidate = ep.load()
            except Exception as exc:  # a broken plugin must stop start-up, not be skipped silently
                raise ImproperlyConfigured(f"Cannot load adapter entry point {ep.name!r} ({ep.value}): {exc}") from exc
            cls = _check(candidate, f"entry point {ep.value}")
            if sources.get(cls.name) == f"{cls.__module__}.{cls.__qualname__}" or loaded.get(cls.name) is cls:
                continue  # the same class named in settings and as an entry point
            add(cls, f"entry point {ep.value}")
    return loaded


def adapter_classes() -> Mapping[str, type[BankAdapter]]:
    """Every registered adapter class by name (loaded once per process)."""
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                _registry = adapters_load()
    return _registry


def adapter_class(name: str) -> type[BankAdapter]:
    try:
        return adapter_classes()[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"No adapter named {name!r} is registered (known: {', '.join(sorted(adapter_classes()))})."
        ) from None


def registry_reset() -> None:
    global _registry
    with _lock:
        _registry = None


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "AGGREGATOR":
        registry_reset()


def sandbox_clients() -> dict[str, dict[str, Any]]:
    """The sandbox banks' demo clients by bank slug, from ``fixtures/sandbox/clients.json``."""
    path = Path(settings.BASE_DIR) / "fixtures" / "sandbox" / "clients.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    if isinstance(data, dict) and "clients" in data:
        data = data["clients"]
    if isinstance(data, dict):
        return {str(bank): dict(client) for bank, client in data.items()}
    return {str(client["bank"]): dict(client) for client in data}


def adapter_config(institution: Any) -> dict[str, Any]:
    """The merged configuration an adapter gets for this institution (see the module docstring)."""
    config: dict[str, Any] = {}
    institution_config = dict(institution.config or {})
    bank = institution_config.get("sandbox_bank")
    if bank:
        client = sandbox_clients().get(bank, {})
        config.update(
            {
                "base_url": f"{settings.SANDBOX_BASE_URL.rstrip('/')}/{bank}",
                "client_id": client.get("client_id", ""),
                "client_secret": client.get("client_secret", ""),
            }
        )
        if client.get("token_endpoint_auth_method") == "private_key_jwt":  # the sandbox's generated key pair
            config["client_signing_key"] = sandbox_client_key()
    config.update(institution_config)
    config.update(provider_settings.INSTITUTIONS.get(institution.slug, {}))
    config.setdefault("institution_slug", institution.slug)
    return config


def adapter_for(institution: Any, *, psu_ip_address: str = "") -> BankAdapter:
    """A ready adapter for ``institution`` (an ``aggregator.models.Institution``)."""
    cls = adapter_class(institution.provider)
    return cls(adapter_config(institution), psu_ip_address=psu_ip_address)
