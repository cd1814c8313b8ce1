from django.urls import path

from . import views

urlpatterns = [
    path("checkpoint", views.CheckpointView.as_view(), name="ledger-checkpoint"),
    path("checkpoints", views.CheckpointListView.as_view(), name="ledger-checkpoints"),
    path("proof/inclusion", views.InclusionProofView.as_view(), name="ledger-inclusion"),
    path("proof/consistency", views.ConsistencyProofView.as_view(), name="ledger-consistency"),
    path("leaves", views.LeavesView.as_view(), name="ledger-leaves"),
]
