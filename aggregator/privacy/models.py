"""Export requests (Art. 15/20) and erasure records (Art. 17)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

__all__ = ["DataExport", "ErasureRecord"]


class DataExport(models.Model):
    """One archive of everything we hold about a user, built by a task; downloadable until ``expires_at``."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_exports")
    requested_by = models.CharField(max_length=10, choices=[("user", "User"), ("staff", "Staff"), ("cli", "CLI")])
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    percent = models.PositiveSmallIntegerField(default=0)
    # The archive's file name under PRIVACY_EXPORT_DIR (never a path given by anyone).
    file_name = models.CharField(max_length=100, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True, help_text="Rows per file of the archive (the manifest's)")
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="The download link works until then")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(percent__lte=100), name="dataexport_percent_max_100"),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]), name="dataexport_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.public_id} ({self.status}, {self.percent}%)"


class ErasureRecord(models.Model):
    """Evidence that a person's data was erased: who they were only as a keyed hash, when, and what was done."""

    subject = models.CharField(max_length=64, db_index=True, help_text="HMAC of the user's id (pseudonym)")
    erased_at = models.DateTimeField()
    requested_by = models.CharField(max_length=10)
    counts = models.JSONField(default=dict, help_text="Rows deleted, kept pseudonymised, consents revoked…")

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self) -> str:
        return f"erasure of {self.subject[:12]}… at {self.erased_at:%Y-%m-%d %H:%M}"
