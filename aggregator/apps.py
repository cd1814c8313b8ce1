from django.apps import AppConfig


class AggregatorConfig(AppConfig):
    name = "aggregator"
    verbose_name = "Aggregated data"
    default_auto_field = "django.db.models.BigAutoField"
