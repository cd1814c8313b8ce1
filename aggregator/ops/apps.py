from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "aggregator.ops"
    label = "ops"
    verbose_name = "Operations"
