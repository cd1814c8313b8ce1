import pytest
from django.core.exceptions import ImproperlyConfigured

from aggregator.compliance.clock import compliance_clock_name, compliance_now
from aggregator.compliance.regimes import EU, UK, US, regime_for_country


def test_a_british_bank_is_under_the_uk_rules():
    assert regime_for_country("GB") is UK
    assert UK.reconfirm_days == 90 and UK.sca_days is None


def test_a_german_bank_is_under_the_eu_rules_and_an_unknown_country_too():
    assert regime_for_country("DE") is EU
    assert regime_for_country("ZZ") is EU
    assert EU.sca_days == 180


def test_an_american_bank_is_under_the_us_rules():
    assert regime_for_country("us") is US
    assert US.authorisation_max_days == 365 and US.unattended_per_day is None


def test_a_setting_forces_one_regime_for_every_bank(settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "COMPLIANCE_REGIME": "UK"}
    assert regime_for_country("DE") is UK


def test_a_setting_adds_a_country(settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "COMPLIANCE_COUNTRY_REGIMES": {"CH": "US"}}
    assert regime_for_country("CH") is US


def test_an_unknown_forced_regime_is_a_configuration_error(settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "COMPLIANCE_REGIME": "MARS"}
    with pytest.raises(ImproperlyConfigured, match="MARS"):
        regime_for_country("GB")


@pytest.mark.django_db
def test_the_compliance_clock_follows_the_sandbox_clock(settings):
    from providers.sandbox.clock import clock_advance, clock_offset, clock_set_offset

    settings.AGGREGATOR = {**settings.AGGREGATOR, "COMPLIANCE_CLOCK": "sandbox"}
    before = clock_offset()
    try:
        start = compliance_now()
        clock_advance(91 * 86400)
        assert (compliance_now() - start).days == 91
    finally:
        clock_set_offset(before)


def test_the_real_clock_can_be_chosen(settings):
    settings.AGGREGATOR = {**settings.AGGREGATOR, "COMPLIANCE_CLOCK": "real"}
    assert compliance_clock_name() == "real"
    assert compliance_now().tzinfo is not None
