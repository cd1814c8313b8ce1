from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "aggregator.payments"
    label = "payments"
    verbose_name = "Payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aggregator.domain_events import subscribe

        from .reconcile import payments_on_domain_event

        subscribe(payments_on_domain_event, dispatch_uid="payments.reconcile")
