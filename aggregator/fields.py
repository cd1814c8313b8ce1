"""Model fields for money and currencies.

``MoneyField`` is a ``DecimalField`` that refuses ``float`` outright: binary floating point must never reach a
stored amount, not even through an innocent-looking ``Transaction(amount=0.1)``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.validators import RegexValidator
from django.db import models

__all__ = ["CURRENCY_VALIDATOR", "CurrencyField", "MoneyField", "currency_check"]

CURRENCY_VALIDATOR = RegexValidator(r"^[A-Z]{3}$", "Currency must be an ISO 4217 code of 3 upper-case letters.")


class MoneyField(models.DecimalField):
    description = "A signed amount of money (Decimal, never float)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 20)
        kwargs.setdefault("decimal_places", 4)
        super().__init__(*args, **kwargs)

    def deconstruct(self):  # type: ignore[no-untyped-def]
        name, _path, args, kwargs = super().deconstruct()
        return name, "aggregator.fields.MoneyField", args, kwargs

    def to_python(self, value: Any) -> Decimal | None:
        if isinstance(value, float):
            raise TypeError("Money amounts must be Decimal or str, never float.")
        return super().to_python(value)

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, float):
            raise TypeError("Money amounts must be Decimal or str, never float.")
        return super().get_prep_value(value)


class CurrencyField(models.CharField):
    description = "An ISO 4217 currency code"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 3)
        kwargs.setdefault("validators", [CURRENCY_VALIDATOR])
        super().__init__(*args, **kwargs)

    def deconstruct(self):  # type: ignore[no-untyped-def]
        name, _path, args, kwargs = super().deconstruct()
        kwargs.pop("validators", None)
        if kwargs.get("max_length") == 3:
            kwargs.pop("max_length")
        return name, "aggregator.fields.CurrencyField", args, kwargs


def currency_check(model_name: str, field: str = "currency") -> models.CheckConstraint:
    """A database CHECK that the currency is exactly 3 upper-case ASCII letters."""
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__regex": r"^[A-Z]{3}$"}),
        name=f"{model_name}_{field}_iso4217",
    )
