from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consents and OAuth2"
    default_auto_field = "django.db.models.BigAutoField"
