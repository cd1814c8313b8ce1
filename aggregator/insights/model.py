"""The learned category model: TF-IDF (character n-grams of the texts + the structured tokens) and a multinomial
logistic regression over detailed categories, with isotonic calibrations of its top probability, so that a
confidence level says how often such labels are right (``very_high`` > 98 %, ``high`` > 90 %, ``medium`` > 60 %).

Two calibrations, because a model is far surer of itself than it should be on a counterparty it never saw:

* *known* counterparties (their name or cleaned description was in the training data): calibrated on generated
  seeds the model did not train on;
* *new* counterparties: calibrated on the predictions of a second model trained without every third
  counterparty, scored on exactly those counterparties — once with the MCC the bank sent and once without (for
  banks that send none: the model alone is right far less often, and its levels must say so).

``mcc_accuracy``: how often each MCC's category (:mod:`.mcc`) was the true one in the training data; the engine
prefers the MCC over the model for a new counterparty when the MCC is the surer of the two.

Trained at build/test time from generated data (:mod:`.training`), never downloaded; saved with joblib to a file
under ``DATA_DIR`` (``insights_train``) with the taxonomy version, the counterparty directory and the known keys.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from .features import FEATURES_VERSION, TxnInput, model_text
from .mcc import mcc_category
from .normalise import clean_description, counterparty_key

__all__ = [
    "CONFIDENCE_LEVELS",
    "CategoryModel",
    "confidence_level",
    "fit_model",
    "input_keys",
    "load_model",
    "save_model",
]

CONFIDENCE_LEVELS = ("very_high", "high", "medium", "low")


def confidence_level(estimate: float) -> str:
    """The level of a calibrated probability of being right."""
    if estimate > 0.98:
        return "very_high"
    if estimate > 0.90:
        return "high"
    if estimate > 0.60:
        return "medium"
    return "low"


def input_keys(t: TxnInput) -> set[str]:
    """The keys that identify a transaction's counterparty: its names and its cleaned description."""
    keys = {counterparty_key(t.merchant_name), counterparty_key(t.counterparty_name)}
    keys.add(counterparty_key(clean_description(t.description)))
    keys.discard("")
    return keys


@dataclass
class CategoryModel:
    pipeline: Pipeline
    calibration: Calibration | None
    taxonomy_version: str
    directory: dict[str, str] = field(default_factory=dict)  # cleaned-description key → display name
    version: str = ""
    trained_on: dict[str, object] = field(default_factory=dict)
    known_keys: frozenset[str] = frozenset()
    calibration_new: Calibration | None = None
    mcc_accuracy: dict[str, float] = field(default_factory=dict)
    # new counterparties paid by card without an MCC (some banks send none): the model alone, calibrated apart —
    # it is right far less often there than with the MCC among its inputs
    calibration_new_bare: Calibration | None = None
    features_version: str = ""  # features.FEATURES_VERSION at training time ("" before it existed)

    def is_known(self, t: TxnInput) -> bool:
        """A counterparty seen in training — or no merchant payment at all (transfers, salaries, bills by direct
        debit are read from their wording and codes, which the model knows)."""
        return not _merchant_payment(t) or bool(input_keys(t) & self.known_keys)

    def predict(self, items: Sequence[TxnInput]) -> list[tuple[str, float, float]]:
        """(detailed category, raw top probability, calibrated probability of being right) per item."""
        if not items:
            return []
        proba = self.pipeline.predict_proba([model_text(t) for t in items])
        best = proba.argmax(axis=1)
        top = proba[np.arange(len(items)), best]
        known = np.array([self.is_known(t) for t in items], dtype=bool)
        calibrated = np.array(top, dtype=float)
        if self.calibration is not None and known.any():
            calibrated[known] = self.calibration.predict(top[known])
        bare = np.array([not t.merchant_category_code for t in items], dtype=bool) & ~known
        with_mcc = ~known & ~bare
        if self.calibration_new is not None and with_mcc.any():
            calibrated[with_mcc] = self.calibration_new.predict(top[with_mcc])
        new_bare = self.calibration_new_bare or self.calibration_new
        if new_bare is not None and bare.any():
            calibrated[bare] = new_bare.predict(top[bare])
        classes = self.pipeline.classes_
        return [(str(classes[i]), float(p), float(c)) for i, p, c in zip(best, top, calibrated, strict=True)]


def _pipeline() -> Pipeline:
    features = FeatureUnion(
        [
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True)),
            ("tokens", TfidfVectorizer(token_pattern=r"\S+", sublinear_tf=True)),
        ]
    )
    return Pipeline([("features", features), ("clf", LogisticRegression(C=20.0, max_iter=400))])


def _fit(train: Sequence[tuple[TxnInput, str]]) -> Pipeline:
    counts = Counter((model_text(t), label) for t, label in train)
    pipeline = _pipeline()
    pipeline.fit(
        [text for text, _ in counts],
        [label for _, label in counts],
        clf__sample_weight=np.array([np.sqrt(n) for n in counts.values()]),
    )
    return pipeline


@dataclass(frozen=True)
class Calibration:
    """A monotone map from the model's top probability to a *cautious* probability of being right: an isotonic
    fit, each of its steps replaced by the Wilson lower bound (99 %) of the accuracy measured in it, so a step
    seen on a handful of predictions cannot claim a level it has not shown."""

    thresholds: tuple[float, ...]
    values: tuple[float, ...]

    def predict(self, top: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(top, dtype=float), self.thresholds, self.values)


def _wilson_lower(right: float, n: int, z: float = 2.576) -> float:
    if n == 0:
        return 0.0
    p = right / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))


def _isotonic(top: Sequence[float], correct: Sequence[bool], groups: Sequence[str] | None = None) -> Calibration | None:
    """``groups``: the merchant of each prediction, when merchants are the unit that generalises (new merchants:
    a model is right or wrong about all of a merchant's payments at once) — the lower bound then counts
    merchants, not payments."""
    if not len(top):
        return None
    x = np.array(top, dtype=float)
    y = np.array(correct, dtype=float)
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True).fit_transform(x, y)
    order = np.argsort(x, kind="stable")
    xs, ys, fs = x[order], y[order], fitted[order]
    thresholds: list[float] = []
    values: list[float] = []
    start = 0
    for end in range(1, len(xs) + 1):
        if end == len(xs) or fs[end] != fs[start]:  # one isotonic step: [start, end)
            n = end - start if groups is None else len({groups[i] for i in order[start:end]})
            lower = _wilson_lower(float(ys[start:end].mean()) * n, n)
            lower = max(lower, values[-1]) if values else lower  # still monotone
            thresholds += [float(xs[start]), float(xs[end - 1])]
            values += [lower, lower]
            start = end
    return Calibration(tuple(thresholds), tuple(values))


def _known_keys(rows: Sequence[tuple[TxnInput, str]]) -> frozenset[str]:
    return frozenset(k for t, _ in rows for k in input_keys(t))


def _mcc_accuracy(rows: Sequence[tuple[TxnInput, str]]) -> dict[str, float]:
    seen: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for t, label in rows:
        mapping = mcc_category(t.merchant_category_code)
        if mapping is not None:
            seen[mapping.mcc][0] += mapping.detailed == label
            seen[mapping.mcc][1] += 1
    # Laplace-smoothed, so that a code seen a few times is never "certain"
    return {code: (right + 1) / (n + 2) for code, (right, n) in seen.items()}


def _merchant_payment(t: TxnInput) -> bool:
    return bool(t.merchant_category_code) or t.bank_transaction_code.endswith("CCRD-POSD")


def _group(t: TxnInput) -> str:
    return counterparty_key(t.merchant_name) or counterparty_key(clean_description(t.description))


def _holdout_groups(rows: Sequence[tuple[TxnInput, str]]) -> set[str]:
    """Every third merchant (by the key of its name), for the calibration of predictions on new merchants."""
    keys = sorted({counterparty_key(t.merchant_name) for t, _ in rows if _merchant_payment(t)} - {""})
    return set(keys[::3])


def fit_model(
    train: Sequence[tuple[TxnInput, str]],
    calibrate: Sequence[tuple[TxnInput, str]],
    *,
    taxonomy_version: str,
    directory: dict[str, str],
    trained_on: dict[str, object] | None = None,
) -> CategoryModel:
    """Fit on ``train`` (identical texts merged, weighted by count) and calibrate on ``calibrate`` (other seeds)."""
    model = CategoryModel(
        _fit(train),
        None,
        taxonomy_version,
        dict(directory),
        trained_on=dict(trained_on or {}),
        known_keys=_known_keys(train),
        mcc_accuracy=_mcc_accuracy(train),
        features_version=FEATURES_VERSION,
    )
    if calibrate:
        known = [(t, y) for t, y in calibrate if model.is_known(t)]
        preds = model.predict([t for t, _ in known])
        model.calibration = _isotonic(
            [p[1] for p in preds], [p[0] == y for p, (_, y) in zip(preds, known, strict=True)]
        )
        # new counterparties: a model without a third of them, scored on that third
        held = _holdout_groups(train)
        # the held merchants' rows, with their names or without (the description's key then)
        held_keys = held | {
            counterparty_key(clean_description(t.description))
            for t, _ in train
            if counterparty_key(t.merchant_name) in held
        }
        partial = CategoryModel(_fit([(t, y) for t, y in train if _group(t) not in held_keys]), None, taxonomy_version)
        unseen = [(t, y) for t, y in calibrate if _merchant_payment(t) and _group(t) in held_keys]
        if unseen:
            preds = partial.predict([t for t, _ in unseen])
            merchants = [_group(t) for t, _ in unseen]
            model.calibration_new = _isotonic(
                [p[1] for p in preds], [p[0] == y for p, (_, y) in zip(preds, unseen, strict=True)], merchants
            )
            bare = [(replace(t, merchant_category_code=""), y) for t, y in unseen]
            preds = partial.predict([t for t, _ in bare])
            model.calibration_new_bare = _isotonic(
                [p[1] for p in preds], [p[0] == y for p, (_, y) in zip(preds, bare, strict=True)], merchants
            )
    buffer = io.BytesIO()
    joblib.dump(
        (model.pipeline, model.calibration, model.calibration_new, model.calibration_new_bare, model.directory), buffer
    )
    model.version = hashlib.sha256(buffer.getvalue()).hexdigest()[:12]
    return model


def save_model(model: CategoryModel, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(model, tmp)
    tmp.replace(path)  # atomic: a reader never sees half a model


def load_model(path: Path) -> CategoryModel | None:
    """The model saved at ``path``, or None when there is none (the engine then uses rules and MCCs only)."""
    if not path.is_file():
        return None
    model = joblib.load(path)
    return model if isinstance(model, CategoryModel) else None
