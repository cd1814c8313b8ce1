"""Admin of the insights: a transaction's labels and risk signals (with their reasons) on its page; streams,
signals, counterparties and corrections on their own. All computed: read-only, except that staff may delete a
wrong correction."""

from __future__ import annotations

from django.contrib import admin

from aggregator.admin import ReadOnlyAdmin, TransactionAdmin
from aggregator.models import Transaction

from .models import CategoryCorrection, Counterparty, RecurringStream, RiskSignal, TransactionEnrichment


class EnrichmentInline(admin.StackedInline):
    model = TransactionEnrichment
    can_delete = False
    readonly_fields = (
        "category_primary",
        "category_detailed",
        "confidence",
        "source",
        "probability",
        "counterparty",
        "taxonomy_version",
        "model_version",
        "updated_at",
    )
    fields = readonly_fields
    verbose_name = "label"

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


class SignalInline(admin.TabularInline):
    model = RiskSignal
    fk_name = "transaction"
    can_delete = False
    readonly_fields = ("kind", "score", "reason", "transaction_ids", "detected_at")
    fields = readonly_fields
    extra = 0

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


admin.site.unregister(Transaction)


@admin.register(Transaction)
class EnrichedTransactionAdmin(TransactionAdmin):
    """The synced transaction with its labels (category, confidence, source, counterparty) and signals."""

    inlines = [EnrichmentInline, SignalInline]
    list_display = (*TransactionAdmin.list_display, "label")
    list_select_related = ("account", "enrichment")

    @admin.display(description="category (confidence, source)")
    def label(self, obj: Transaction) -> str:
        enrichment = getattr(obj, "enrichment", None)
        return str(enrichment) if enrichment is not None else "—"


@admin.register(RiskSignal)
class RiskSignalAdmin(ReadOnlyAdmin):
    list_display = ("kind", "score", "reason", "account", "transaction", "detected_at")
    list_filter = ("kind",)
    list_select_related = ("account", "transaction")
    raw_id_fields = ("account", "transaction")


@admin.register(RecurringStream)
class RecurringStreamAdmin(ReadOnlyAdmin):
    list_display = (
        "counterparty",
        "direction",
        "frequency",
        "status",
        "average_amount",
        "predicted_next_date",
        "account",
    )
    list_filter = ("frequency", "status", "direction")
    list_select_related = ("account", "counterparty")
    raw_id_fields = ("account", "counterparty")


@admin.register(Counterparty)
class CounterpartyAdmin(ReadOnlyAdmin):
    list_display = ("name", "type", "public_id")
    list_filter = ("type",)
    search_fields = ("name", "public_id")


@admin.register(CategoryCorrection)
class CategoryCorrectionAdmin(ReadOnlyAdmin):
    list_display = ("user", "counterparty", "category_detailed", "updated_at")
    raw_id_fields = ("user", "counterparty")
