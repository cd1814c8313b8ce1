"""The versioned two-level category taxonomy (``taxonomy.json``) and its Plaid PFC / COICOP mappings."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TAXONOMY_FILE", "Category", "Taxonomy", "taxonomy"]

TAXONOMY_FILE = Path(__file__).resolve().parent / "taxonomy.json"


@dataclass(frozen=True)
class Category:
    primary: str
    detailed: str  # "primary.detail"
    plaid_primary: str
    plaid_detailed: str
    coicop: str | None  # COICOP 2018 division ("01".."13"), None: not consumption expenditure


@dataclass(frozen=True)
class Taxonomy:
    version: str
    categories: dict[str, Category]  # by detailed key
    coicop_divisions: dict[str, str]

    @property
    def primaries(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.primary for c in self.categories.values()))

    def get(self, detailed: str) -> Category:
        """The category of a detailed key; ``KeyError`` for an unknown one."""
        return self.categories[detailed]

    def __contains__(self, detailed: object) -> bool:
        return detailed in self.categories


@functools.cache
def taxonomy() -> Taxonomy:
    data = json.loads(TAXONOMY_FILE.read_text(encoding="utf-8"))
    cats: dict[str, Category] = {}
    for primary, spec in data["primary"].items():
        for detail, d in spec["detailed"].items():
            key = f"{primary}.{detail}"
            cats[key] = Category(primary, key, spec["plaid"], d["plaid"], d["coicop"])
    return Taxonomy(version=data["version"], categories=cats, coicop_divisions=data["coicop_divisions"])
