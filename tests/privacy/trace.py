"""The erasure search: every text and JSON column of every table, looked through for a person's traces."""

from __future__ import annotations

from collections.abc import Iterable

from django.apps import apps
from django.db import models
from django.db.models.functions import Cast

__all__ = ["NOT_OURS", "text_columns", "traces_of"]

# The sandbox banks (providers.sandbox) play the banks: their tables are the bank's records, not ours.
NOT_OURS = {"sandbox"}


def text_columns() -> Iterable[tuple[type[models.Model], models.Field]]:
    for model in apps.get_models():
        if model._meta.app_label in NOT_OURS or not model._meta.managed or model._meta.proxy:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField | models.TextField | models.JSONField):
                yield model, field


def traces_of(needles: Iterable[str]) -> list[str]:
    """``"app.Model.field ∋ needle"`` for every column of every table that still contains one of ``needles``
    (case-insensitive; JSON columns searched as their text)."""
    found = []
    wanted = [n for n in needles if n]
    for model, field in text_columns():
        column = field.name
        queryset = model._default_manager.all()
        if isinstance(field, models.JSONField):
            queryset = queryset.annotate(_as_text=Cast(field.name, models.TextField()))
            column = "_as_text"
        for needle in wanted:
            if queryset.filter(**{f"{column}__icontains": needle}).exists():
                found.append(f"{model._meta.label}.{field.name} ∋ {needle}")
    return found
