"""Request bodies checked against the official OpenAPI schemas (the vendored files in ``openapi/official``), so
the sandbox banks accept exactly what the standards allow and name the offending field when they refuse.

Each document is parsed once per process, on first use. ``schema_errors`` returns ``(kind, path, message)``
for each violation, ``kind`` being ``missing`` (a required member is absent), ``unexpected`` (a member the
schema does not allow) or ``invalid``; each bank turns them into its own error shape.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator

__all__ = ["OBIE_PIS_SPEC", "schema_errors"]

OFFICIAL = Path(__file__).resolve().parent.parent / "openapi" / "official"
OBIE_PIS_SPEC = OFFICIAL / "obie-payment-initiation-v3.1.11.yaml"
BG_SPEC = OFFICIAL / "berlin-group-nextgenpsd2-v1.3.11.yaml"
_SPECS = {"obie-pis": OBIE_PIS_SPEC, "berlin-group": BG_SPEC}


@cache
def _components(spec: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(_SPECS[spec].read_text(encoding="utf-8"), Loader=loader)["components"]  # noqa: S506


@cache
def _validator(spec: str, schema: str) -> Draft4Validator:
    root = {"$ref": f"#/components/schemas/{schema}", "components": _components(spec)}
    return Draft4Validator(root)


def _path(parts: Any) -> str:
    return ".".join(str(p) for p in parts)


def schema_errors(spec: str, schema: str, body: Any) -> list[tuple[str, str, str]]:
    """Every way ``body`` breaks ``#/components/schemas/<schema>`` of ``spec`` (``obie-pis`` |
    ``berlin-group``), most specific first; [] when it conforms."""
    found = []
    for error in sorted(_validator(spec, schema).iter_errors(body), key=lambda e: (-len(e.path), str(e.path))):
        where = _path(error.absolute_path)
        if error.validator == "required":
            missing = str(error.message).split("'")[1] if "'" in str(error.message) else ""
            found.append(("missing", f"{where}.{missing}".strip("."), f"{missing or 'A member'} is required."))
        elif error.validator == "additionalProperties":
            found.append(("unexpected", where, str(error.message)[:300]))
        else:
            found.append(("invalid", where, str(error.message)[:300]))
    return found
