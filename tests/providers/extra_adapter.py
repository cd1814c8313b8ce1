"""An adapter living outside providers/: registered only through settings in test_registry."""

from __future__ import annotations

from providers.adapters.cursor_delta import CursorDeltaAdapter
from providers.base import BankAdapter


class ExtraBankAdapter(CursorDeltaAdapter):
    name = "extra_bank"


class DuplicateNameAdapter(CursorDeltaAdapter):
    name = "obie"


class NamelessAdapter(BankAdapter):  # abstract methods unimplemented on purpose: never instantiated
    name = ""


class NotAnAdapter:
    name = "not_an_adapter"
