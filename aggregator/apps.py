from django.apps import AppConfig


class AggregatorConfig(AppConfig):
    name = "aggregator"
    verbose_name = "Aggregated data"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Metrics of domain events, and Celery task instrumentation (its signal receivers connect on import).
        from .observability import taskmetrics  # noqa: F401
        from .observability.subscribers import metrics_subscribe

        metrics_subscribe()
