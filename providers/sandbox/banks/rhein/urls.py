from django.urls import path

from . import payments, views

PAY = "v1/payments/<str:product>"

urlpatterns = [
    path("v1/consents", views.consents_create, name="rhein-consents"),
    path("v1/consents/<str:consent_id>", views.consent, name="rhein-consent"),
    path("v1/consents/<str:consent_id>/status", views.consent_status, name="rhein-consent-status"),
    path("v1/accounts", views.accounts, name="rhein-accounts"),
    path("v1/accounts/<str:account_id>", views.account, name="rhein-account"),
    path("v1/accounts/<str:account_id>/balances", views.account_balances, name="rhein-balances"),
    path("v1/accounts/<str:account_id>/transactions", views.account_transactions, name="rhein-transactions"),
    path(PAY, payments.payment_create, name="rhein-payments"),
    path(f"{PAY}/<str:payment_id>", payments.payment_detail, name="rhein-payment"),
    path(f"{PAY}/<str:payment_id>/status", payments.payment_status, name="rhein-payment-status"),
    path(f"{PAY}/<str:payment_id>/authorisations", payments.authorisations, name="rhein-payment-authorisations"),
    path(
        f"{PAY}/<str:payment_id>/authorisations/<str:authorisation_id>",
        payments.authorisation_detail,
        name="rhein-payment-authorisation",
    ),
]
