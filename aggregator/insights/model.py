"""The learned category model: TF-IDF (character n-grams of the texts + the structured tokens) and a multinomial
logistic regression over detailed categories, with an isotonic calibration of its top probability measured on
held-out seeds, so that a confidence level says how often such labels are right (``very_high`` > 98 %,
``high`` > 90 %, ``medium`` > 60 %).

Trained at build/test time from generated data (:mod:`.training`), never downloaded; saved with joblib to a file
under ``DATA_DIR`` (``insights_train``) together with the taxonomy version and the counterparty directory.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from .features import TxnInput, model_text

__all__ = ["CONFIDENCE_LEVELS", "CategoryModel", "confidence_level", "fit_model", "load_model", "save_model"]

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


@dataclass
class CategoryModel:
    pipeline: Pipeline
    calibration: IsotonicRegression | None
    taxonomy_version: str
    directory: dict[str, str] = field(default_factory=dict)  # cleaned-description key → display name
    version: str = ""
    trained_on: dict[str, object] = field(default_factory=dict)

    def predict(self, items: Sequence[TxnInput]) -> list[tuple[str, float, float]]:
        """(detailed category, raw top probability, calibrated probability of being right) per item."""
        if not items:
            return []
        proba = self.pipeline.predict_proba([model_text(t) for t in items])
        best = proba.argmax(axis=1)
        top = proba[np.arange(len(items)), best]
        calibrated = self.calibration.predict(top) if self.calibration is not None else top
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


def fit_model(
    train: Sequence[tuple[TxnInput, str]],
    calibrate: Sequence[tuple[TxnInput, str]],
    *,
    taxonomy_version: str,
    directory: dict[str, str],
    trained_on: dict[str, object] | None = None,
) -> CategoryModel:
    """Fit on ``train`` (identical texts merged, weighted by count) and calibrate on ``calibrate``."""
    counts = Counter((model_text(t), label) for t, label in train)
    texts = [text for text, _ in counts]
    labels = [label for _, label in counts]
    weights = np.array([np.sqrt(n) for n in counts.values()])
    pipeline = _pipeline()
    pipeline.fit(texts, labels, clf__sample_weight=weights)
    model = CategoryModel(pipeline, None, taxonomy_version, dict(directory), trained_on=dict(trained_on or {}))
    if calibrate:
        preds = model.predict([t for t, _ in calibrate])
        correct = np.array([p[0] == label for p, (_, label) in zip(preds, calibrate, strict=True)], dtype=float)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
        iso.fit(np.array([p[1] for p in preds]), correct)
        model.calibration = iso
    buffer = io.BytesIO()
    joblib.dump((model.pipeline, model.calibration, model.directory), buffer)
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
