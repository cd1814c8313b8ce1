from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "aggregator.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aggregator.domain_events import subscribe

        from .subscribers import webhooks_on_domain_event

        subscribe(webhooks_on_domain_event, dispatch_uid="webhooks")
