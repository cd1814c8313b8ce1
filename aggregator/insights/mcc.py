"""ISO 18245 merchant category codes → our taxonomy.

An explicit table for the common codes (exact: the code alone says which detailed category), then the ISO 18245
ranges (from the ``iso18245`` package's list) for everything else (a primary-level guess). Unknown or malformed
codes map to nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import iso18245

__all__ = ["MccMapping", "mcc_category"]

# code → detailed category. Codes whose merchants split over several detailed categories (5814: coffee shops
# and fast food) map to the most common one and are marked inexact.
_TABLE: dict[str, str] = {
    "4111": "transportation.public_transit",
    "4112": "transportation.public_transit",
    "4121": "transportation.taxis_and_ride_shares",
    "4131": "transportation.public_transit",
    "4511": "travel.flights",
    "4784": "transportation.tolls",
    "4814": "rent_and_utilities.telephone",
    "4899": "rent_and_utilities.internet_and_cable",
    "4900": "rent_and_utilities.gas_and_electricity",
    "5200": "home_improvement.hardware",
    "5251": "home_improvement.hardware",
    "5300": "general_merchandise.superstores",
    "5310": "general_merchandise.superstores",
    "5311": "general_merchandise.department_stores",
    "5331": "general_merchandise.discount_stores",
    "5399": "general_merchandise.other_general_merchandise",
    "5411": "food_and_drink.groceries",
    "5441": "food_and_drink.other_food_and_drink",
    "5462": "food_and_drink.fast_food",
    "5499": "food_and_drink.groceries",
    "5541": "transportation.gas",
    "5542": "transportation.gas",
    "5651": "general_merchandise.clothing_and_accessories",
    "5691": "general_merchandise.clothing_and_accessories",
    "5712": "home_improvement.furniture",
    "5732": "general_merchandise.electronics",
    "5812": "food_and_drink.restaurant",
    "5813": "food_and_drink.beer_wine_and_liquor",
    "5814": "food_and_drink.fast_food",
    "5815": "entertainment.music_and_audio",
    "5816": "entertainment.video_games",
    "5912": "medical.pharmacies_and_supplements",
    "5921": "food_and_drink.beer_wine_and_liquor",
    "5942": "general_merchandise.bookstores_and_newsstands",
    "5945": "general_merchandise.gifts_and_novelties",
    "5977": "personal_care.hair_and_beauty",
    "5995": "general_merchandise.pet_supplies",
    "6011": "transfer_out.withdrawal",
    "7011": "travel.lodging",
    "7230": "personal_care.hair_and_beauty",
    "7512": "travel.rental_cars",
    "7523": "transportation.parking",
    "7832": "entertainment.tv_and_movies",
    "7841": "entertainment.tv_and_movies",
    "7995": "entertainment.casinos_and_gambling",
    "7997": "personal_care.gyms_and_fitness_centers",
    "8011": "medical.primary_care",
    "8021": "medical.dental_care",
    "8043": "medical.eye_care",
    "8062": "medical.primary_care",
    "8099": "medical.other_medical",
    "8211": "general_services.education",
    "8220": "general_services.education",
    "8398": "government_and_non_profit.donations",
    "9211": "government_and_non_profit.government_departments_and_agencies",
    "9222": "government_and_non_profit.government_departments_and_agencies",
    "9311": "government_and_non_profit.tax_payment",
    "9399": "government_and_non_profit.government_departments_and_agencies",
}
_INEXACT = frozenset({"5814", "5942", "4899", "5499", "5300", "5399"})
# ISO 18245 ranges (start, end) → a primary-level fallback
_RANGES: tuple[tuple[str, str, str], ...] = (
    ("3000", "3350", "travel.flights"),
    ("3351", "3500", "travel.rental_cars"),
    ("3501", "3999", "travel.lodging"),
    ("4000", "4799", "transportation.other_transportation"),
    ("4800", "4999", "rent_and_utilities.other_utilities"),
    ("5000", "5599", "general_merchandise.other_general_merchandise"),
    ("5600", "5699", "general_merchandise.clothing_and_accessories"),
    ("5700", "7299", "general_merchandise.other_general_merchandise"),
    ("7300", "7999", "general_services.other_general_services"),
    ("8000", "8099", "medical.other_medical"),
    ("8100", "8999", "general_services.other_general_services"),
    ("9000", "9999", "government_and_non_profit.other_government_and_non_profit"),
)


@dataclass(frozen=True)
class MccMapping:
    mcc: str
    detailed: str
    exact: bool  # the code alone decides the detailed category
    description: str  # the ISO 18245 description


@functools.cache
def mcc_category(code: str) -> MccMapping | None:
    """Our category for an MCC, or None for an unknown/malformed code (only codes in the ISO list map)."""
    if not (isinstance(code, str) and len(code) == 4 and code.isdigit()):
        return None
    try:
        info = iso18245.get_mcc(code)
    except (iso18245.MCCNotFound, iso18245.InvalidMCC):
        return None
    if code in _TABLE:
        return MccMapping(code, _TABLE[code], code not in _INEXACT, info.iso_description)
    for lo, hi, detailed in _RANGES:
        if lo <= code <= hi:
            return MccMapping(code, detailed, False, info.iso_description)
    return None
