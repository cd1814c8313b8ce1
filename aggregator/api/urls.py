from django.urls import path

from . import consents, insights, payments, syncs, views

app_name = "api"

urlpatterns = [
    path("accounts", views.AccountListView.as_view(), name="account-list"),
    path("accounts/<str:account_id>", views.AccountDetailView.as_view(), name="account-detail"),
    path("accounts/<str:account_id>/balances", views.AccountBalancesView.as_view(), name="account-balances"),
    path(
        "accounts/<str:account_id>/transactions", views.AccountTransactionsView.as_view(), name="account-transactions"
    ),
    path("transactions/sync", views.TransactionSyncView.as_view(), name="transaction-sync"),
    path("transactions/<str:transaction_id>", insights.TransactionDetailView.as_view(), name="transaction-detail"),
    path("recurring", insights.RecurringListView.as_view(), name="recurring-list"),
    path("income", insights.IncomeView.as_view(), name="income"),
    path("risk-signals", insights.RiskSignalListView.as_view(), name="risk-signal-list"),
    path("consents/<str:consent_id>/refresh", syncs.ConsentRefreshView.as_view(), name="consent-refresh"),
    path("syncs/<str:sync_id>", syncs.SyncRunDetailView.as_view(), name="syncrun-detail"),
    path("consents", consents.ConsentListView.as_view(), name="consent-list"),
    path("consents/current", consents.CurrentConsentView.as_view(), name="consent-current"),
    path("consents/<uuid:consent_id>", consents.ConsentDetailView.as_view(), name="consent-detail"),
    path("payment-consents", payments.PaymentConsentListView.as_view(), name="payment-consent-list"),
    path(
        "payment-consents/<str:payment_consent_id>",
        payments.PaymentConsentDetailView.as_view(),
        name="payment-consent-detail",
    ),
    path(
        "payment-consents/<str:payment_consent_id>/funds-confirmation",
        payments.FundsConfirmationView.as_view(),
        name="payment-consent-funds",
    ),
    path("payments", payments.PaymentListView.as_view(), name="payment-list"),
    path("payments/<str:payment_id>", payments.PaymentDetailView.as_view(), name="payment-detail"),
]
