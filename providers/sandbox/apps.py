from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "providers.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox mock banks"
    default_auto_field = "django.db.models.BigAutoField"
