"""Admin list filters for the compliance clocks: "due within 7 days" and "overdue" (docs/compliance.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from ..models import Connection, Institution
from .clock import compliance_now
from .regimes import regime_for_institution

__all__ = ["CLOCK_FILTER_CHOICES", "ReauthenticationDueFilter", "clock_window"]

CLOCK_FILTER_CHOICES = [("7d", "Due within 7 days"), ("overdue", "Overdue")]


def clock_window(value: str | None) -> tuple[Any, Any] | None:
    """(from, to) of deadlines for a filter value, on the compliance clock; ``None`` for no filter."""
    now = compliance_now()
    if value == "7d":
        return now, now + timedelta(days=7)
    if value == "overdue":
        return None, now
    return None


class ReauthenticationDueFilter(admin.SimpleListFilter):
    """Connections whose bank SCA (EU, 180 days) lapses within 7 days, or has lapsed."""

    title = "re-authentication"
    parameter_name = "reauth"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return CLOCK_FILTER_CHOICES

    def queryset(self, request: HttpRequest, queryset: QuerySet[Connection]) -> QuerySet[Connection]:
        window = clock_window(self.value())
        if window is None:
            return queryset
        start, end = window
        by_days: dict[int, list[int]] = {}
        for institution in Institution.objects.all():
            days = regime_for_institution(institution).sca_days
            if days is not None:
                by_days.setdefault(days, []).append(institution.pk)
        match = Q(pk__in=[])
        for days, institutions in by_days.items():
            # deadline = last_sca_at + days, so deadline in (start, end] ⇔ last_sca_at in (start - days, end - days]
            clause = Q(institution_id__in=institutions, last_sca_at__lte=end - timedelta(days=days))
            if start is not None:
                clause &= Q(last_sca_at__gt=start - timedelta(days=days))
            match |= clause
        queryset = queryset.filter(match)
        if self.value() == "7d":
            queryset = queryset.filter(status__in=[Connection.Status.ACTIVE, Connection.Status.ERROR])
        return queryset.exclude(status=Connection.Status.DISCONNECTED)
