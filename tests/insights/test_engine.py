"""The pure engine: taxonomy, MCC mapping, normalisation in the three dialects, the model and its confidence."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aggregator.insights.engine import enrich
from aggregator.insights.features import TxnInput
from aggregator.insights.mcc import mcc_category
from aggregator.insights.model import confidence_level
from aggregator.insights.normalise import clean_description, counterparty_type, normalise_counterparty
from aggregator.insights.taxonomy import taxonomy
from aggregator.insights.training import labelled_inputs
from tests.insights.conftest import SMALL_NOW


def test_the_taxonomy_has_about_15_primary_and_100_detailed_categories_each_mapped_to_plaid():
    tax = taxonomy()
    assert 14 <= len(tax.primaries) <= 17
    assert 90 <= len(tax.categories) <= 120
    for key, cat in tax.categories.items():
        assert cat.plaid_detailed == key.replace(".", "_").upper()
        assert cat.plaid_detailed.startswith(cat.plaid_primary)
        assert cat.coicop is None or cat.coicop in tax.coicop_divisions


@pytest.mark.parametrize(
    ("detailed", "plaid", "coicop"),
    [
        ("food_and_drink.groceries", "FOOD_AND_DRINK_GROCERIES", "01"),
        ("food_and_drink.restaurant", "FOOD_AND_DRINK_RESTAURANT", "11"),
        ("rent_and_utilities.telephone", "RENT_AND_UTILITIES_TELEPHONE", "08"),
        ("transportation.gas", "TRANSPORTATION_GAS", "07"),
        ("income.wages", "INCOME_WAGES", None),
    ],
)
def test_taxonomy_maps_to_plaid_and_coicop(detailed, plaid, coicop):
    cat = taxonomy().get(detailed)
    assert (cat.plaid_detailed, cat.coicop) == (plaid, coicop)


@pytest.mark.parametrize(
    ("code", "detailed", "exact"),
    [
        ("5411", "food_and_drink.groceries", True),
        ("5541", "transportation.gas", True),
        ("4121", "transportation.taxis_and_ride_shares", True),
        ("5814", "food_and_drink.fast_food", False),  # coffee shops share it
        ("3005", "travel.flights", False),  # an airline: by ISO 18245 range
        ("7011", "travel.lodging", True),
    ],
)
def test_mcc_maps_to_the_taxonomy(code, detailed, exact):
    mapping = mcc_category(code)
    assert mapping is not None
    assert (mapping.detailed, mapping.exact) == (detailed, exact)
    assert mapping.detailed in taxonomy()


@pytest.mark.parametrize("code", ["", "54", "54111", "abcd", "0000", None])
def test_malformed_or_unknown_mcc_maps_to_nothing(code):
    assert mcc_category(code) is None


@pytest.mark.parametrize(
    ("description", "cleaned"),
    [
        # albion (OBIE, GB)
        ("CARD PAYMENT TO TESCO STORES 3412 ON 12 NOV", "TESCO STORES"),
        ("TESCO STORES 3412 LONDON", "TESCO STORES"),
        ("OCTOPUS ENERGY DD", "OCTOPUS ENERGY"),
        ("AMAZON.CO.UK*5123", "AMAZON.CO.UK"),
        # rhein (Berlin Group, DE)
        ("REWE Markt GmbH//Berlin/DE", "REWE MARKT GMBH"),
        ("Lastschrift Vattenfall Europe Sales GmbH Abschlag Strom", "VATTENFALL EUROPE SALES GMBH"),
        ("Lohn/Gehalt RHEINLAND SOFTWARE GMBH", "RHEINLAND SOFTWARE GMBH"),
        # liberty (cursor dialect, US)
        ("WHOLEFDS #1234 NEW YORK", "WHOLEFDS"),
        ("UBER   *TRIP HELP.UBER.COM CA", "UBER"),
        ("CVS/PHARMACY #1234 BOSTON", "CVS/PHARMACY"),
        ("SPOTIFY P2F9A1C3E", "SPOTIFY"),
    ],
)
def test_descriptions_of_each_dialect_are_cleaned_to_the_counterparty(description, cleaned):
    assert clean_description(description) == cleaned


def test_the_directory_turns_a_messy_description_into_a_clean_name_and_a_stable_id():
    directory = {"tescostores": "Tesco"}
    a = normalise_counterparty(description="CARD PAYMENT TO TESCO STORES 3412 ON 12 NOV", directory=directory)
    b = normalise_counterparty(description="TESCO STORES 9876 LEEDS", directory=directory)
    assert a.name == b.name == "Tesco"
    assert a.id == b.id and a.id.startswith("cp_") and len(a.id) == 19
    assert a.type == "merchant"


@pytest.mark.parametrize(
    ("name", "detailed", "kind"),
    [
        ("Harbourside Engineering Ltd", "income.wages", "employer"),
        ("Albion Bank", "income.interest_earned", "financial_institution"),
        ("London Borough of Camden", "government_and_non_profit.tax_payment", "government"),
        ("Priya Shah", "transfer_out.account_transfer", "person"),
        ("Quick Invest Partners", "transfer_out.account_transfer", "merchant"),
        ("Tesco", "food_and_drink.groceries", "merchant"),
    ],
)
def test_counterparty_types(name, detailed, kind):
    assert counterparty_type(name, detailed) == kind


@pytest.mark.parametrize(
    ("estimate", "level"), [(0.999, "very_high"), (0.95, "high"), (0.9, "medium"), (0.7, "medium"), (0.3, "low")]
)
def test_confidence_levels_mean_what_they_claim(estimate, level):
    assert confidence_level(estimate) == level


def test_the_model_labels_an_unseen_seed_and_its_high_labels_are_right(small_model):
    rows = labelled_inputs([4711], SMALL_NOW)
    result = enrich([r.input for r in rows], model=small_model)
    right = [e.detailed == r.label.category_detailed for e, r in zip(result, rows, strict=True)]
    high = [ok for ok, e in zip(right, result, strict=True) if e.confidence in ("high", "very_high")]
    assert sum(right) / len(right) > 0.9
    assert sum(high) / len(high) >= 0.98


def test_rules_win_for_salaries_and_the_mcc_confirms_card_labels(small_model):
    salary, card = enrich(
        [
            TxnInput(1, "NORTHWIND ANALYTICS LTD SALARY", Decimal("2950.00"), bank_transaction_code="PMNT-RCDT-SALA"),
            TxnInput(2, "TESCO STORES 3412 LONDON", Decimal("-12.30"), "Tesco", "", "PMNT-CCRD-POSD", "5411"),
        ],
        model=small_model,
    )
    assert (salary.detailed, salary.source, salary.confidence) == ("income.wages", "rule", "very_high")
    assert salary.counterparty.type == "employer"
    assert (card.detailed, card.source) == ("food_and_drink.groceries", "mcc")


def test_without_a_model_the_mcc_alone_labels_card_payments():
    (e,) = enrich([TxnInput(1, "SOMEWHERE 123", Decimal("-5"), merchant_category_code="5411")], model=None)
    assert (e.detailed, e.source, e.confidence) == ("food_and_drink.groceries", "mcc", "high")


def test_a_correction_overrides_the_label_for_that_counterparty(small_model):
    inputs = [TxnInput(1, "TESCO STORES 3412 LONDON", Decimal("-12.30"), "Tesco", "", "PMNT-CCRD-POSD", "5411")]
    (before,) = enrich(inputs, model=small_model)
    (after,) = enrich(
        inputs, model=small_model, corrections={before.counterparty.key: "general_merchandise.superstores"}
    )
    assert before.detailed == "food_and_drink.groceries"
    assert (after.detailed, after.primary, after.source, after.confidence) == (
        "general_merchandise.superstores",
        "general_merchandise",
        "user",
        "very_high",
    )


def test_a_new_merchant_paid_by_card_without_an_mcc_is_not_labelled_with_high_confidence(small_model):
    unknown = [
        TxnInput(i, f"{name} {1000 + i} LEEDS", Decimal("-23.40"), name.title(), "", "PMNT-CCRD-POSD", "")
        for i, name in enumerate(("ZORBLAX EMPORIUM", "QUINTESSA DIGITAL", "HARROWGATE & SONS", "VELMORA"))
    ]
    assert small_model.calibration_new_bare is not None
    for e in enrich(unknown, model=small_model):
        assert e.confidence not in ("high", "very_high"), (e.counterparty.name, e.detailed, e.probability)
