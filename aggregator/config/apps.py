"""The Django admin, on our admin site (``aggregator.config.admin_site``): the same sign-in protection as the
people's login, and a TOTP second factor for staff when ``ADMIN_REQUIRE_2FA`` is on."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig

__all__ = ["AggregatorAdminConfig"]


class AggregatorAdminConfig(AdminConfig):
    default_site = "aggregator.config.admin_site.AggregatorAdminSite"
