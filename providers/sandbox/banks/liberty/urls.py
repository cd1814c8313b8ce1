from django.urls import path

from . import views

urlpatterns = [
    path("accounts", views.accounts, name="liberty-accounts"),
    path("numbers", views.numbers, name="liberty-numbers"),
    path("transactions/sync", views.transactions_sync, name="liberty-transactions-sync"),
    path("item/remove", views.item_remove, name="liberty-item-remove"),
]
