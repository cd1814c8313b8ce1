from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consents and OAuth2"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from oauth2_provider.signals import app_authorized

        from .oauth import on_app_authorized

        app_authorized.connect(on_app_authorized, dispatch_uid="consent.token_issued")
