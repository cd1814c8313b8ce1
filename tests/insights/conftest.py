"""A small insights model, trained once per test session from one generated seed (a few seconds), and a helper
that stores a generated account's history as synced transactions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.insights.model import CategoryModel, fit_model, save_model
from aggregator.insights.taxonomy import taxonomy
from aggregator.insights.training import build_directory, labelled_inputs, training_pairs

SMALL_NOW = datetime(2024, 5, 31, 12, tzinfo=UTC)


@pytest.fixture(scope="session")
def small_model() -> CategoryModel:
    train = labelled_inputs([1], SMALL_NOW)
    calibration = labelled_inputs([2], SMALL_NOW)
    return fit_model(
        training_pairs(train),
        training_pairs(calibration),
        taxonomy_version=taxonomy().version,
        directory=build_directory(train),
    )


@pytest.fixture
def model_file(small_model: CategoryModel, tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "model.joblib"
    save_model(small_model, path)
    settings.INSIGHTS = {"MODEL_PATH": str(path)}
    return path
