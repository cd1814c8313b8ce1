"""The error codes the API can answer = the registry (aggregator/api/error_codes.py) = the documented table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from rest_framework import exceptions

from aggregator.api.error_codes import API_ERROR_CODES, FIELD_VALIDATION_CODES

ROOT = Path(__file__).resolve().parents[2]
# Every module whose exceptions reach a third party through the API's exception handler.
API_SOURCES = [
    *sorted((ROOT / "aggregator" / "api").glob("*.py")),
    ROOT / "consent" / "api_auth.py",
]
# Domain services the API calls, whose Django ValidationErrors the exception handler renders (only these functions).
API_SERVICES = [
    (ROOT / "consent" / "services.py", {"consent_create", "consent_revoke"}),
    # The payment services the payment endpoints call (aggregator/api/payments.py): every code they raise.
    (ROOT / "aggregator" / "payments" / "services.py", None),
    (ROOT / "aggregator" / "payments" / "outbox.py", None),
    (ROOT / "aggregator" / "payments" / "instruction.py", None),
    (ROOT / "aggregator" / "payments" / "consents.py", {"payment_consent_create", "payment_consent_confirm_funds"}),
    (ROOT / "aggregator" / "insights" / "services.py", {"insights_category_correct"}),
    # The regulatory unattended-access limit the refresh endpoint spends (aggregator/api/services.py).
    (ROOT / "aggregator" / "sync" / "unattended.py", {"unattended_reserve"}),
]
# DRF raises these itself (parsers, content negotiation, routing, throttles); their default codes pass through.
DRF_RAISED = [
    exceptions.ParseError,
    exceptions.NotAuthenticated,
    exceptions.PermissionDenied,
    exceptions.NotFound,
    exceptions.MethodNotAllowed,
    exceptions.NotAcceptable,
    exceptions.UnsupportedMediaType,
    exceptions.Throttled,
]


def _str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def codes_in_source(path: Path, functions: set[str] | None = None) -> set[str]:
    """String literals used as an error code: ``code="…"``, ``ApiError(409, "…", …)`` (any call whose first argument
    is an error status), ``_unauthenticated("…", …)``, ``default_code = "…"`` and the values of ``_STATUS_CODES``."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in functions] if functions else [tree]
    for node in (n for root in roots for n in ast.walk(root)):
        if isinstance(node, ast.Call):
            found.update(s for kw in node.keywords if kw.arg == "code" and (s := _str(kw.value)))
            args = node.args
            if len(args) >= 2 and isinstance(args[0], ast.Constant) and args[0].value in range(400, 600):
                found.update(s for s in [_str(args[1])] if s)
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name == "_unauthenticated" and args:
                found.update(s for s in [_str(args[0])] if s)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if "default_code" in names:
                found.update(s for s in [_str(node.value)] if s)
            if "_STATUS_CODES" in names and isinstance(node.value, ast.Dict):
                found.update(s for v in node.value.values if (s := _str(v)))
    return found


def _serializer_codes() -> set[str]:
    from aggregator.api.consents import ConsentCreateSerializer
    from aggregator.api.payment_serializers import PaymentConsentCreateSerializer, PaymentCreateSerializer
    from aggregator.api.serializers import DeltaQuerySerializer, TransactionQuerySerializer

    codes: set[str] = set()
    serializer_classes = (
        TransactionQuerySerializer,
        DeltaQuerySerializer,
        ConsentCreateSerializer,
        PaymentConsentCreateSerializer,
        PaymentCreateSerializer,
    )
    for serializer_class in serializer_classes:
        serializer = serializer_class()
        codes |= set(serializer.error_messages) - {"not_a_dict"}  # bodies are parsed as JSON objects first
        for field in serializer.fields.values():
            codes |= set(field.error_messages)
            if hasattr(field, "child"):
                codes |= set(field.child.error_messages)
    return codes


def documented_codes() -> dict[int, set[str]]:
    text = (ROOT / "docs" / "tpp-quickstart.md").read_text()
    section = text.split("## Errors at a glance", 1)[1].split("\n## ", 1)[0]
    table: dict[int, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            table.setdefault(int(cells[0]), set()).update(re.findall(r"`([a-z_]+)`", cells[2]))
    return table


def _registry() -> set[str]:
    return {code for codes in API_ERROR_CODES.values() for code in codes}


def _raised() -> set[str]:
    codes = set().union(*(codes_in_source(p) for p in API_SOURCES))
    codes |= set().union(*(codes_in_source(p, functions) for p, functions in API_SERVICES))
    return codes | {e.default_code for e in DRF_RAISED}


def test_every_code_raised_in_the_api_source_is_registered():
    raised = _raised()
    assert raised - _registry() == set()


def test_every_registered_code_is_raised_somewhere():
    raised = _raised()
    assert _registry() - raised - set(FIELD_VALIDATION_CODES) == set()


def test_field_validation_codes_of_the_request_serializers_are_registered():
    assert _serializer_codes() == set(FIELD_VALIDATION_CODES)


def test_the_documented_table_lists_exactly_the_registered_codes_per_status():
    assert documented_codes() == {status: set(codes) for status, codes in API_ERROR_CODES.items()}


def test_the_source_scan_finds_codes_in_each_form(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "class E(Exception):\n    default_code = 'a_default'\n"
        "raise ApiError(409, 'an_api_error', 'x')\n"
        "raise NotFound('x', code='a_keyword')\n"
        "_unauthenticated('an_unauthenticated', 'x')\n"
        "_STATUS_CODES = {400: 'a_status_default'}\n"
    )
    assert codes_in_source(sample) == {
        "a_default",
        "an_api_error",
        "a_keyword",
        "an_unauthenticated",
        "a_status_default",
    }
