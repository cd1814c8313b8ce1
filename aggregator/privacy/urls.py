from django.urls import path

from . import views

urlpatterns = [
    path("", views.privacy_page, name="privacy"),
    path("access-log/", views.access_log_page, name="privacy-access-log"),
    path("exports/<str:token>/", views.export_download, name="privacy-export-download"),
]
