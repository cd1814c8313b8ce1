"""URLs of the sandbox mock banks, mounted at ``/sandbox/`` when ``SANDBOX_ENABLED``."""

from django.urls import include, path

from . import views
from .oauth import views as oauth_views

app_name = "sandbox"

_oauth = [
    path(".well-known/oauth-authorization-server", oauth_views.metadata, name="oauth-metadata"),
    path("oauth/authorize", oauth_views.authorize, name="oauth-authorize"),
    path("oauth/token", oauth_views.token, name="oauth-token"),
    path("oauth/login/<str:txn>/", oauth_views.login, name="oauth-login"),
    path("oauth/select/<str:txn>/", oauth_views.select, name="oauth-select"),
]

urlpatterns = [
    path("", views.index, name="index"),
    path("liberty/openapi.yaml", views.liberty_openapi, name="liberty-openapi"),
    path("<str:bank>/", include(_oauth)),
    path("albion/", include("providers.sandbox.banks.albion.urls")),
    path("rhein/", include("providers.sandbox.banks.rhein.urls")),
    path("liberty/", include("providers.sandbox.banks.liberty.urls")),
]
