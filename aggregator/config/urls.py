from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from aggregator.ledger.views import LedgerKeysView
from aggregator.observability.views import metrics_view
from aggregator.ops.views import ops_dashboard

from .health import healthz, livez


class APIDocsView(SpectacularSwaggerSplitView):
    """The Swagger UI page (the split view serves its init script from ``?script``: no inline script, CSP): GET
    (and HEAD) only. Its one renderer is an HTML template, which cannot render DRF's
    OPTIONS metadata (that was a 500); other methods get a 405."""

    http_method_names = ["get", "head"]


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("livez", livez, name="livez"),
    path("metrics", metrics_view, name="metrics"),
    path(f"{settings.ADMIN_URL}ops/", ops_dashboard, name="admin-ops"),
    path(settings.ADMIN_URL, admin.site.urls),
    # Third-party data API (aggregator/api) and the consent resource (consent/) share the /api/v1/ prefix.
    path("api/v1/", include("aggregator.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The tamper-evident ledger (public, docs/ledger.md) and the key that signs its checkpoints.
    path("ledger/", include("aggregator.ledger.urls")),
    path(".well-known/ledger-keys", LedgerKeysView.as_view(), name="ledger-keys"),
    # The split view serves Swagger UI's init script from /api/docs/?script: no inline script (CSP).
    path("api/docs/", APIDocsView.as_view(url_name="api-schema"), name="api-docs"),
    # Bank connections (upstream OAuth redirect and callback).
    path("connect/", include("aggregator.connections.urls")),
    # The user's data rights (GDPR): exports with expiring download links, the access log (aggregator/privacy).
    path("me/privacy/", include("aggregator.privacy.urls")),
    # OAuth2 server for third parties (/oauth/…), consent screen, login and the user's dashboard (/me/…).
    path("", include("consent.urls")),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("providers.sandbox.urls")))
