from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from .views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("providers.sandbox.urls")))
