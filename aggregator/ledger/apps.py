from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "aggregator.ledger"
    label = "ledger"
    verbose_name = "Ledger"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aggregator.domain_events import subscribe

        from .subscribers import ledger_on_domain_event

        subscribe(ledger_on_domain_event, dispatch_uid="ledger")
