from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consents and OAuth2"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from oauth2_provider.signals import app_authorized

        from aggregator.compliance.sca import unattended_gate_register

        from .clocks import connections_serving_only_unconfirmed_consents
        from .oauth import on_app_authorized

        app_authorized.connect(on_app_authorized, dispatch_uid="consent.token_issued")
        # UK: no unattended sync for a connection whose every consent awaits reconfirmation.
        unattended_gate_register("uk_reconfirmation", connections_serving_only_unconfirmed_consents)
