from django.urls import path

from .api import ConsentDetailView, ConsentListView, CurrentConsentView

urlpatterns = [
    path("consents", ConsentListView.as_view(), name="consent-list"),
    path("consents/current", CurrentConsentView.as_view(), name="consent-current"),
    path("consents/<uuid:consent_id>", ConsentDetailView.as_view(), name="consent-detail"),
]
