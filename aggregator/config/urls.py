from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from aggregator.observability.views import metrics_view
from aggregator.ops.views import ops_dashboard

from .health import healthz, livez

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("livez", livez, name="livez"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/ops/", ops_dashboard, name="admin-ops"),
    path("admin/", admin.site.urls),
    # Third-party data API (aggregator/api) and the consent resource (consent/) share the /api/v1/ prefix.
    path("api/v1/", include("aggregator.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Bank connections (upstream OAuth redirect and callback).
    path("connect/", include("aggregator.connections.urls")),
    # OAuth2 server for third parties (/oauth/…), consent screen, login and the user's dashboard (/me/…).
    path("", include("consent.urls")),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("providers.sandbox.urls")))
