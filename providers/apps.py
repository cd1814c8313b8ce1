from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Bank providers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Fail at start-up (ImproperlyConfigured) on a bad adapter path or a duplicate name, not at first sync.
        from .registry import adapter_classes

        adapter_classes()
