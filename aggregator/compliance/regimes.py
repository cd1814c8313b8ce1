"""Which regulator's rules apply to a bank connection, and their numbers.

The institution's country decides (``GB`` → UK, EEA countries → EU, ``US`` → US; any other country is treated
as EU, the strictest on unattended access); ``AGGREGATOR["COMPLIANCE_REGIME"]`` forces one regime for every bank
(a deployment that operates under one licence), and ``AGGREGATOR["COMPLIANCE_COUNTRY_REGIMES"]`` adds or changes
countries (``{"CH": "EU"}``).

Sources (``docs/compliance.md`` has the full table):
- UK: FCA SCA-RTS Art. 10A and 36(6) (PS21/19, in force 30 Sept 2022): the AISP reconfirms the customer's explicit
  consent every 90 days; the bank no longer re-applies SCA every 90 days. Art. 36(5): at most 4 unattended
  requests per 24 hours.
- EU: PSD2 RTS (Delegated Regulation 2018/389) Art. 10a, inserted by Delegated Regulation 2022/2360: the bank
  applies SCA at the first access through an AISP and when more than 180 days have passed since the last SCA.
  Art. 36(5): at most 4 unattended requests per 24 hours.
- US: CFPB 12 CFR 1033.421(b)(2) (authorisation lasts at most one year, then reauthorisation), 1033.421(h)
  (revocation ends access; data obtained under it is deleted per 1033.421(a)), 1033.441 (records kept three
  years).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

from ..conf import aggregator_settings

if TYPE_CHECKING:
    from ..models import Institution

__all__ = ["EU", "REGIMES", "UK", "US", "Regime", "regime_for_country", "regime_for_institution"]


@dataclass(frozen=True)
class Regime:
    code: str
    name: str
    # The aggregator reconfirms the user's consent this often (days), or never (None).
    reconfirm_days: int | None
    # The bank re-applies SCA this long after the last one (days), or never (None).
    sca_days: int | None
    # An authorisation lasts at most this long before the user must authorise again (days), or no cap (None).
    authorisation_max_days: int | None
    # Unattended requests per account, per data type, per rolling 24 hours (None: no regulatory cap).
    unattended_per_day: int | None
    # Evidence of an authorisation is kept this many years after it ended.
    evidence_retention_years: int


UK = Regime("UK", "United Kingdom (FCA SCA-RTS)", 90, None, None, 4, 5)
EU = Regime("EU", "European Union (PSD2 RTS)", None, 180, None, 4, 5)
US = Regime("US", "United States (CFPB 12 CFR 1033)", None, None, 365, None, 3)
REGIMES = {r.code: r for r in (UK, EU, US)}


def _by_code(code: str) -> Regime:
    try:
        return REGIMES[str(code).upper()]
    except KeyError:
        raise ImproperlyConfigured(f"unknown compliance regime {code!r}: use one of {sorted(REGIMES)}") from None


def regime_for_country(country: str) -> Regime:
    """The regime of a bank in ``country`` (ISO 3166-1 alpha-2)."""
    forced = aggregator_settings.COMPLIANCE_REGIME
    if forced:
        return _by_code(str(forced))
    extra = aggregator_settings.COMPLIANCE_COUNTRY_REGIMES or {}
    country = (country or "").upper()
    if country in extra:
        return _by_code(extra[country])
    if country == "GB":
        return UK
    if country == "US":
        return US
    return EU


def regime_for_institution(institution: Institution) -> Regime:
    return regime_for_country(institution.country)
