from django.urls import path

from . import views

app_name = "connections"

urlpatterns = [
    path("callback/", views.connect_callback, name="connect-callback"),
    path("<slug:institution_slug>/start/", views.connect_start, name="connect-start"),
]
