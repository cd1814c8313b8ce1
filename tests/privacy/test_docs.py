"""docs/privacy.md says, model by model, what erasure does: a new model needs its row there."""

from __future__ import annotations

import re
from pathlib import Path

from django.apps import apps

DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"


def _documented() -> set[str]:
    text = DOC.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    names = set()
    for row in rows:
        first_cell = row.split("|")[1]
        for label in re.findall(r"`([a-z_]+\.[A-Za-z*]+)`", first_cell):
            names.add(label)
        # "`consent.AccessToken`, `RefreshToken`, …": the app of the first one goes for the rest of the cell
        app = re.match(r"\s*`([a-z_]+)\.", first_cell)
        for bare in re.findall(r"`([A-Z][A-Za-z]+)`", first_cell):
            names.add(f"{app.group(1)}.{bare}" if app else bare)
    return names


def test_every_model_has_a_row_in_docs_privacy():
    documented = _documented()
    missing = [
        m._meta.label
        for m in apps.get_models()
        if m._meta.label not in documented and f"{m._meta.app_label}.*" not in documented
    ]
    assert missing == []
