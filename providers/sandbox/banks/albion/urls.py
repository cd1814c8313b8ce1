from django.urls import path

from . import payments, views

P = "open-banking/v3.1/aisp/"
PIS = "open-banking/v3.1/pisp/"
_KINDS = {"domestic": "domestic", "domestic-scheduled": "domestic-scheduled"}

urlpatterns = [
    path(f"{P}account-access-consents", views.consents_create, name="albion-consents"),
    path(f"{P}account-access-consents/<str:consent_id>", views.consent, name="albion-consent"),
    path(f"{P}accounts", views.accounts, name="albion-accounts"),
    path(f"{P}accounts/<str:account_id>", views.account, name="albion-account"),
    path(f"{P}accounts/<str:account_id>/balances", views.account_balances, name="albion-balances"),
    path(f"{P}accounts/<str:account_id>/transactions", views.account_transactions, name="albion-transactions"),
    path(
        f"{PIS}domestic-payment-consents/<str:consent_id>/funds-confirmation",
        payments.funds_confirmation,
        name="albion-funds-confirmation",
    ),
]
for segment, kind in _KINDS.items():
    urlpatterns += [
        path(
            f"{PIS}{segment}-payment-consents", payments.consent_create, {"kind": kind}, name=f"albion-{kind}-consents"
        ),
        path(
            f"{PIS}{segment}-payment-consents/<str:consent_id>",
            payments.consent_detail,
            {"kind": kind},
            name=f"albion-{kind}-consent",
        ),
        path(f"{PIS}{segment}-payments", payments.payment_create, {"kind": kind}, name=f"albion-{kind}-payments"),
        path(
            f"{PIS}{segment}-payments/<str:payment_id>",
            payments.payment_detail,
            {"kind": kind},
            name=f"albion-{kind}-payment",
        ),
        path(
            f"{PIS}{segment}-payments/<str:payment_id>/payment-details",
            payments.payment_details,
            {"kind": kind},
            name=f"albion-{kind}-payment-details",
        ),
    ]
