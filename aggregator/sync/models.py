"""The sync lease: which worker may sync a connection now (``aggregator.sync.locks``)."""

from __future__ import annotations

from django.db import models

__all__ = ["SyncLease"]


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
