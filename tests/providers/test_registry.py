"""The adapter registry: dotted paths from settings, unique names, failures at start-up."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from providers.adapters.berlin_group import BerlinGroupAdapter
from providers.adapters.cursor_delta import CursorDeltaAdapter
from providers.adapters.obie import OBIEAdapter
from providers.registry import adapter_class, adapter_classes, adapter_config, adapter_for
from tests.factories import InstitutionFactory

from .conftest import BASE

DEFAULT = [
    "providers.adapters.obie.OBIEAdapter",
    "providers.adapters.berlin_group.BerlinGroupAdapter",
    "providers.adapters.cursor_delta.CursorDeltaAdapter",
]


def _adapters(settings, paths):  # type: ignore[no-untyped-def]
    settings.AGGREGATOR = {**settings.AGGREGATOR, "ADAPTERS": paths}


def test_the_three_dialects_are_registered_under_the_names_institutions_use():
    assert dict(adapter_classes()) == {
        "obie": OBIEAdapter,
        "berlin_group": BerlinGroupAdapter,
        "cursor_delta": CursorDeltaAdapter,
    }


def test_an_extra_adapter_is_added_by_settings_alone(settings, db):
    _adapters(settings, [*DEFAULT, "tests.providers.extra_adapter.ExtraBankAdapter"])
    institution = InstitutionFactory(slug="extra", provider="extra_bank", config={"base_url": "https://extra.test"})

    adapter = adapter_for(institution)

    assert type(adapter).__name__ == "ExtraBankAdapter" and adapter.config["base_url"] == "https://extra.test"
    assert set(adapter_classes()) == {"obie", "berlin_group", "cursor_delta", "extra_bank"}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("providers.adapters.nope.NopeAdapter", "Cannot import"),
        ("tests.providers.extra_adapter.DuplicateNameAdapter", "Duplicate adapter name 'obie'"),
        ("tests.providers.extra_adapter.NamelessAdapter", "non-empty"),
        ("tests.providers.extra_adapter.NotAnAdapter", "not a providers.base.BankAdapter"),
    ],
)
def test_a_bad_adapter_setting_fails_loudly(settings, path, message):
    _adapters(settings, [*DEFAULT, path])
    with pytest.raises(ImproperlyConfigured, match=message):
        adapter_classes()


def test_start_up_checks_the_registry(settings):
    _adapters(settings, [*DEFAULT, "providers.adapters.nope.NopeAdapter"])
    with pytest.raises(ImproperlyConfigured):
        apps.get_app_config("providers").ready()


def test_an_unknown_provider_name_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="No adapter named 'martian'"):
        adapter_class("martian")


def test_sandbox_institutions_get_base_url_and_demo_client_and_settings_override_them(settings, db):
    institution = InstitutionFactory(slug="albion", provider="obie", config={"sandbox_bank": "albion"})
    config = adapter_config(institution)
    assert config["base_url"] == f"{BASE}/albion"
    assert config["client_id"] == "aggregator-albion" and config["client_secret"]

    settings.AGGREGATOR = {
        **settings.AGGREGATOR,
        "INSTITUTIONS": {"albion": {"client_id": "real-client", "base_url": "https://ob.albion.example"}},
    }
    config = adapter_config(institution)
    assert (config["client_id"], config["base_url"]) == ("real-client", "https://ob.albion.example")


def test_adapters_get_the_psu_ip_address_when_the_user_is_present(db):
    institution = InstitutionFactory(slug="rhein", provider="berlin_group", config={"sandbox_bank": "rhein"})
    assert adapter_for(institution, psu_ip_address="203.0.113.9").psu_ip_address == "203.0.113.9"


def test_adapters_can_come_from_installed_packages_entry_points(monkeypatch, settings):
    from importlib.metadata import EntryPoint

    import providers.registry as registry

    plugin = EntryPoint(
        name="extra", value="tests.providers.extra_adapter:ExtraBankAdapter", group="aggregator.adapters"
    )
    monkeypatch.setattr(registry, "entry_points", lambda group: [plugin] if group == "aggregator.adapters" else [])
    _adapters(settings, DEFAULT)  # reloads the registry
    assert adapter_classes()["extra_bank"].__name__ == "ExtraBankAdapter"

    settings.AGGREGATOR = {**settings.AGGREGATOR, "ADAPTER_ENTRY_POINT_GROUP": ""}
    assert "extra_bank" not in adapter_classes()


def test_revoke_is_an_optional_capability_that_says_when_it_is_missing():
    from providers.base import BankAdapter, Credentials, NotSupportedError

    class Minimal(BankAdapter):
        name = "minimal"

        def start_authorization(self, *, redirect_uri, user_hint=""):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        exchange_code = refresh = list_accounts = get_balances = iter_transactions = start_authorization  # type: ignore[assignment]

    adapter = Minimal({})
    assert adapter.supports_revoke is False
    with pytest.raises(NotSupportedError) as caught:
        adapter.revoke(Credentials(access_token="t"))
    assert caught.value.code == "not_supported" and "minimal" in str(caught.value)
    assert OBIEAdapter.supports_revoke and BerlinGroupAdapter.supports_revoke
