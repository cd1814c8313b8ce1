"""Server-side state of the bank connect flow."""

from __future__ import annotations

from django.conf import settings
from django.db import models

__all__ = ["PendingAuthorization"]


class PendingAuthorization(models.Model):
    """One authorization started at a bank, waiting for the redirect back (keyed by the OAuth ``state``).

    The PKCE verifier and bank-side consent data are encrypted (``payload``); a row is used at most once.
    """

    state = models.CharField(max_length=128, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    institution = models.ForeignKey("aggregator.Institution", on_delete=models.CASCADE, related_name="+")
    redirect_uri = models.URLField(max_length=500)
    next_url = models.CharField(max_length=500, blank=True)
    payload = models.TextField(editable=False, help_text="Encrypted AuthorizationRequest (PKCE verifier, consent)")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Created by the providers app before the connect flow moved here (migrations 0004 / providers 0002).
        db_table = "providers_pendingauthorization"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="pendingauth_expires_idx")]

    def __str__(self) -> str:
        return f"authorization for {self.user} at {self.institution_id}"
