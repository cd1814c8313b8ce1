from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "aggregator.insights"
    label = "insights"
    verbose_name = "Insights"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aggregator.domain_events import subscribe

        from .subscribers import insights_on_domain_event

        subscribe(insights_on_domain_event, dispatch_uid="insights")
