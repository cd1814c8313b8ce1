from django.urls import path

from . import views

P = "open-banking/v3.1/aisp/"

urlpatterns = [
    path(f"{P}account-access-consents", views.consents_create, name="albion-consents"),
    path(f"{P}account-access-consents/<str:consent_id>", views.consent, name="albion-consent"),
    path(f"{P}accounts", views.accounts, name="albion-accounts"),
    path(f"{P}accounts/<str:account_id>", views.account, name="albion-account"),
    path(f"{P}accounts/<str:account_id>/balances", views.account_balances, name="albion-balances"),
    path(f"{P}accounts/<str:account_id>/transactions", views.account_transactions, name="albion-transactions"),
]
