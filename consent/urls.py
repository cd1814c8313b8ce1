"""OAuth2 endpoints for TPPs (/oauth/…), login, and the user's pages (/me/…).

Mounted at the site root. Token introspection is deliberately not exposed (see docs/security.md); DOT's
application-management and authorized-token pages are not mounted either (TPPs are registered by staff).
"""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import account_views, reconfirm_views
from .fapi.views import (
    AuthorizationServerMetadataView,
    ProtectedResourceMetadataView,
    PushedAuthorizationRequestView,
)
from .payment_callback import payment_callback
from .views import ConsentAuthorizationView, ConsentRevokeTokenView, ConsentTokenView

app_name = "consent"

urlpatterns = [
    path("", account_views.home, name="home"),
    path("oauth/authorize/", ConsentAuthorizationView.as_view(), name="authorize"),
    path("oauth/token/", ConsentTokenView.as_view(), name="token"),
    path("oauth/par/", PushedAuthorizationRequestView.as_view(), name="par"),
    path("oauth/revoke_token/", ConsentRevokeTokenView.as_view(), name="revoke-token"),
    # RFC 8414 and RFC 9728 documents, at the origin's root.
    path(".well-known/oauth-authorization-server", AuthorizationServerMetadataView.as_view(), name="as-metadata"),
    path(".well-known/oauth-protected-resource", ProtectedResourceMetadataView.as_view(), name="pr-metadata"),
    path("oauth/payment-callback/", payment_callback, name="payment-callback"),
    path("accounts/login/", account_views.RateLimitedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("me/consents/", account_views.consent_dashboard, name="dashboard"),
    path("me/consents/ended/", account_views.consent_dashboard_ended, name="dashboard-ended"),
    path("me/consents/reconfirm/", reconfirm_views.consent_reconfirm_view, name="reconfirm"),
    path("me/consents/<uuid:consent_id>/revoke/", account_views.consent_revoke_view, name="revoke"),
    path(
        "me/connections/<uuid:connection_id>/disconnect/",
        account_views.connection_disconnect_view,
        name="disconnect",
    ),
]
