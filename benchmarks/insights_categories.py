"""Categories and counterparties of ``python -m benchmarks insights``, scored against the generator's labels:
accuracy and macro-F1, precision and coverage of the confident labels, the calibration table per confidence
level, counterparty names and types — on a seed, and on card merchants the model never saw."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
from sklearn.metrics import f1_score

from aggregator.insights.engine import enrich
from aggregator.insights.features import TxnInput
from aggregator.insights.model import fit_model
from aggregator.insights.normalise import counterparty_key
from aggregator.insights.taxonomy import taxonomy
from aggregator.insights.training import LabelledTxn, build_directory, labelled_inputs, training_pairs

__all__ = ["LATER", "NOW", "TARGETS", "categories_score", "check", "unseen_merchants_score"]

TARGETS = {"primary_macro_f1": 0.90, "high_precision": 0.98, "high_coverage": 0.80, "recurring": 0.90, "auprc": 0.8}
NOW = datetime(2025, 6, 30, 12, tzinfo=UTC)
LATER = NOW + timedelta(days=70)


def check(label: str, value: float, target: float) -> str:
    return f"{label}: {value:.4f} (target ≥ {target}: {'met' if value >= target else 'NOT met'})"


_LEVEL_CLAIM = {"very_high": 0.98, "high": 0.90, "medium": 0.60, "low": 0.0}


def _calibration_table(result: list, truth: list[str], indent: str = "    ") -> None:
    """Per confidence level: how many labels, their share, how often right, against what the level claims."""
    print(f"{indent}level      labels  share   right   claim")
    for level, claim in _LEVEL_CLAIM.items():
        right = [e.detailed == y for e, y in zip(result, truth, strict=True) if e.confidence == level]
        if not right:
            print(f"{indent}{level:<10} {0:>6}  0.00%       —   > {claim:.0%}")
            continue
        precision = float(np.mean(right))
        verdict = "" if precision > claim or level == "low" else "  (claim NOT met)"
        print(
            f"{indent}{level:<10} {len(right):>6} {len(right) / len(result):>6.2%}  {precision:.4f}   > {claim:.0%}"
            f"{verdict}"
        )


def categories_score(model, rows: list[LabelledTxn]) -> tuple[list, float]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = enrich([r.input for r in rows], model=model)
    elapsed = time.perf_counter() - started
    y_det = [r.label.category_detailed for r in rows]
    p_det = [e.detailed for e in result]
    y_pri = [d.partition(".")[0] for d in y_det]
    p_pri = [e.primary for e in result]
    print(f"  transactions scored: {len(rows)}")
    print(f"  primary accuracy {np.mean([a == b for a, b in zip(y_pri, p_pri, strict=True)]):.4f}")
    print("  " + check("primary macro-F1", f1_score(y_pri, p_pri, average="macro"), TARGETS["primary_macro_f1"]))
    print(
        f"  detailed accuracy {np.mean([a == b for a, b in zip(y_det, p_det, strict=True)]):.4f}, "
        f"macro-F1 {f1_score(y_det, p_det, average='macro'):.4f}"
    )
    high = [e.detailed == y for e, y in zip(result, y_det, strict=True) if e.confidence in ("high", "very_high")]
    print("  " + check("high+ precision", np.mean(high) if high else 0.0, TARGETS["high_precision"]))
    print("  " + check("high+ coverage", len(high) / len(rows), TARGETS["high_coverage"]))
    print(f"  sources: {dict(Counter(e.source for e in result))}; calibration (detailed label right):")
    _calibration_table(result, y_det)
    bare = enrich([r.bare for r in rows], model=model)
    for name, res in (("as the banks send it", result), ("description only", bare)):
        pairs = [
            (e.counterparty.key, counterparty_key(r.label.counterparty_name))
            for e, r in zip(res, rows, strict=True)
            if r.label.counterparty_name
        ]
        print(f"  counterparty accuracy ({name}): {np.mean([a == b for a, b in pairs]):.4f} over {len(pairs)}")
    types = [
        (e.counterparty.type, r.label.counterparty_type)
        for e, r in zip(result, rows, strict=True)
        if r.label.counterparty_type
    ]
    print(f"  counterparty type accuracy: {np.mean([a == b for a, b in types]):.4f}")
    return result, len(rows) / elapsed


def unseen_merchants_score(seed: int, train: list[LabelledTxn], cal: list[LabelledTxn]) -> None:
    """A harder, honest check: card merchants the model never saw (every third one held out of training and
    calibration), scored on the fresh seed — what the confidence levels are worth off the generator's list."""
    names = sorted({r.label.counterparty_name for r in train if r.tx.bank_transaction_code == "PMNT-CCRD-POSD"})
    held = set(names[::3])
    keep = [r for r in train if r.label.counterparty_name not in held]
    keep_cal = [r for r in cal if r.label.counterparty_name not in held]
    model = fit_model(
        training_pairs(keep),
        training_pairs(keep_cal),
        taxonomy_version=taxonomy().version,
        directory=build_directory(keep),
    )
    rows = [r for r in labelled_inputs([seed], NOW) if r.label.counterparty_name in held]
    for name, inputs in (
        ("with the bank's MCC", [r.input for r in rows]),
        (
            "without an MCC",
            [
                TxnInput(
                    r.input.key,
                    r.input.description,
                    r.input.amount,
                    r.input.merchant_name,
                    r.input.counterparty_name,
                    r.input.bank_transaction_code,
                    "",
                    r.input.bank_name,
                )
                for r in rows
            ],
        ),
    ):
        result = enrich(inputs, model=model)
        ok = [e.primary == r.label.category_primary for e, r in zip(result, rows, strict=True)]
        high = [
            e.detailed == r.label.category_detailed
            for e, r in zip(result, rows, strict=True)
            if e.confidence in ("high", "very_high")
        ]
        print(
            f"  {len(held)} held-out merchants, {len(rows)} transactions, {name}: primary accuracy "
            f"{np.mean(ok):.4f}; high+ labels {len(high) / max(1, len(rows)):.2%} of them, "
            f"{np.mean(high) if high else float('nan'):.4f} precise; calibration:"
        )
        _calibration_table(result, [r.label.category_detailed for r in rows])
