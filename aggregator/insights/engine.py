"""Enrichment of a batch of transactions: user corrections, then firm rules, then the model (confirmed by the
MCC where the bank sent one), then the MCC alone when there is no model; then the counterparty.

Source and confidence per label: ``user`` (a correction for this counterparty: very_high), ``rule`` (a bank
transaction code that says it: very_high), ``mcc`` (the model's label agrees with the MCC's category, or the MCC
alone), ``model``. Confidence of model labels is the calibrated probability of being right (see :mod:`.model`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .features import TxnInput, model_text
from .mcc import mcc_category
from .model import CategoryModel, confidence_level
from .normalise import Counterparty, clean_description, counterparty_key, normalise_counterparty
from .taxonomy import taxonomy

__all__ = ["Enrichment", "enrich"]


@dataclass(frozen=True)
class Enrichment:
    key: object
    primary: str
    detailed: str
    confidence: str
    source: str  # rule | mcc | model | user
    probability: float  # calibrated estimate that the label is right
    counterparty: Counterparty


def _rule(t: TxnInput) -> str:
    code = t.bank_transaction_code.upper()
    if code.endswith("-SALA") and t.amount > 0:
        return "income.wages"
    if code.endswith("-INTR") and t.amount > 0:
        return "income.interest_earned"
    if code.endswith("-CWDL") and t.amount < 0:
        return "transfer_out.withdrawal"
    return ""


def _fallback(t: TxnInput) -> tuple[str, str, float]:
    mapping = mcc_category(t.merchant_category_code)
    if mapping is not None:
        return mapping.detailed, "mcc", 0.95 if mapping.exact else 0.7
    return (
        ("transfer_in.other_transfer_in" if t.amount > 0 else "general_merchandise.other_general_merchandise"),
        ("model"),
        0.0,
    )


def enrich(
    items: Sequence[TxnInput],
    *,
    model: CategoryModel | None,
    corrections: Mapping[str, str] | None = None,
) -> list[Enrichment]:
    """Labels for ``items``. ``corrections``: counterparty key → detailed category chosen by the user."""
    tax = taxonomy()
    corrections = corrections or {}
    directory = model.directory if model is not None else {}
    rules = [_rule(t) for t in items]
    todo = [i for i, rule in enumerate(rules) if not rule]
    predicted: dict[int, tuple[str, float, float]] = {}
    if model is not None and todo:
        # identical inputs (the same bill every month, the same coffee shop) are scored once
        text_of = {i: model_text(items[i]) for i in todo}
        texts: dict[str, int] = {}
        for i in todo:
            texts.setdefault(text_of[i], i)
        unique = list(texts.values())
        scored = dict(zip(unique, model.predict([items[i] for i in unique]), strict=True))
        for i in todo:
            predicted[i] = scored[texts[text_of[i]]]
    out = []
    names: dict[tuple[str, ...], Counterparty] = {}  # one normalisation per distinct set of inputs
    for i, t in enumerate(items):
        rule = rules[i]
        if rule:
            detailed, source, estimate = rule, "rule", 0.999
        elif i in predicted:
            detailed, _raw, estimate = predicted[i]
            mapping = mcc_category(t.merchant_category_code)
            source = "mcc" if mapping is not None and mapping.detailed == detailed else "model"
            if source == "mcc" and model is not None:  # two guides agree: at least as sure as the MCC alone
                estimate = max(estimate, model.mcc_accuracy.get(mapping.mcc, 0.0))  # type: ignore[union-attr]
            if mapping is not None and model is not None and source == "model" and not model.is_known(t):
                # a counterparty the model never saw: the MCC, when it has been the surer guide
                mcc_estimate = model.mcc_accuracy.get(mapping.mcc, 0.0)
                if mcc_estimate > estimate:
                    detailed, source, estimate = mapping.detailed, "mcc", mcc_estimate
        else:
            detailed, source, estimate = _fallback(t)
        if detailed not in tax:  # a model trained on an older taxonomy
            detailed, source, estimate = _fallback(t)
        facts = (t.description, t.merchant_name, t.counterparty_name, detailed, t.bank_transaction_code, t.bank_name)
        cp = names.get(facts)
        if cp is None:
            cp = names[facts] = normalise_counterparty(
                description=t.description,
                merchant_name=t.merchant_name,
                counterparty_name=t.counterparty_name,
                detailed=detailed,
                bank_transaction_code=t.bank_transaction_code,
                directory=directory,
                bank_name=t.bank_name,
            )
        corrected = corrections and (
            corrections.get(cp.key) or corrections.get(counterparty_key(clean_description(t.description)))
        )
        if corrected and corrected in tax:
            detailed, source, estimate = corrected, "user", 1.0
        out.append(
            Enrichment(
                key=t.key,
                primary=tax.get(detailed).primary,
                detailed=detailed,
                confidence="very_high" if source in ("user", "rule") else confidence_level(estimate),
                source=source,
                probability=estimate,
                counterparty=cp,
            )
        )
    return out
