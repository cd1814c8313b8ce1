"""Models of the sync engine: the sync lease (which worker may sync a connection now, ``aggregator.sync.locks``) and
the durable counts of unattended accesses (the rule and its callers: ``aggregator.sync.unattended``)."""

from __future__ import annotations

from django.db import models

__all__ = ["SyncLease", "UnattendedAccess"]


class SyncLease(models.Model):
    """One row per connection being synced: the holder's random ``owner`` token and when the lease lapses.

    Claimed, renewed and released in short transactions, so a worker holds no database session while it waits for
    a bank; a crashed worker's lease lapses at ``expires_at`` (``AGGREGATOR["SYNC_LEASE_SECONDS"]`` after its last
    renewal)."""

    connection = models.OneToOneField(
        "aggregator.Connection", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    owner = models.UUIDField()
    sync_run_id = models.BigIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "aggregator_synclease"

    def __str__(self) -> str:
        return f"sync lease of connection {self.connection_id} until {self.expires_at.isoformat()}"


class UnattendedAccess(models.Model):
    """One unattended access (no user present) of one data type of one account, at ``accessed_at`` on the
    compliance clock. A sync run spends at most one per account and data type (its retries reuse it); a refresh
    accepted by the API reserves its run's rows before the run starts. Rows older than the rolling window are
    pruned as new ones are written, so an account holds at most ``limit`` rows per data type plus a few stale."""

    class DataType(models.TextChoices):
        ACCOUNTS = "accounts", "Account details"
        BALANCES = "balances", "Balances"
        TRANSACTIONS = "transactions", "Transactions"

    account = models.ForeignKey("aggregator.Account", on_delete=models.CASCADE, related_name="+")
    data_type = models.CharField(max_length=16, choices=DataType.choices)
    accessed_at = models.DateTimeField()
    sync_run = models.ForeignKey("aggregator.SyncRun", on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["account", "data_type", "accessed_at"], name="unattended_window_idx"),
            models.Index(fields=["accessed_at"], name="unattended_prune_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "data_type", "sync_run"],
                condition=models.Q(sync_run__isnull=False),
                name="unattended_once_per_run",
            )
        ]

    def __str__(self) -> str:
        return f"{self.data_type} of account {self.account_id} at {self.accessed_at.isoformat()}"
