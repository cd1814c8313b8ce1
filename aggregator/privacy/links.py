"""Download links of export archives: signed (``TimestampSigner``), valid ``PRIVACY_EXPORT_LINK_SECONDS``, and
usable only by the archive's user or staff (the view checks who asks)."""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.urls import reverse
from django.utils import timezone

from aggregator.conf import aggregator_settings

from .models import DataExport

__all__ = [
    "ExportLinkError",
    "ExportLinkExpiredError",
    "export_download_path",
    "export_from_token",
    "export_link_token",
]

_SALT = "aggregator.privacy.export-download"


class ExportLinkError(Exception):
    """The link is not one of ours, names no archive, or asks for someone else's archive."""


class ExportLinkExpiredError(ExportLinkError):
    """The link was ours but its time is up (or the archive was deleted by retention)."""


def export_link_token(export: DataExport) -> str:
    return signing.TimestampSigner(salt=_SALT).sign(str(export.public_id))


def export_download_path(export: DataExport) -> str:
    return reverse("privacy-export-download", kwargs={"token": export_link_token(export)})


def export_from_token(*, token: str, user: Any) -> DataExport:
    """The archive a link names, for ``user`` (its owner or staff); raises ``ExportLinkExpiredError`` when the
    link is too old and ``ExportLinkError`` for anything else wrong."""
    signer = signing.TimestampSigner(salt=_SALT)
    try:
        public_id = signer.unsign(token, max_age=int(aggregator_settings.PRIVACY_EXPORT_LINK_SECONDS))
    except signing.SignatureExpired as exc:
        raise ExportLinkExpiredError("This download link has expired. Ask for a new export.") from exc
    except signing.BadSignature as exc:
        raise ExportLinkError("This download link is not valid.") from exc
    export = DataExport.objects.filter(public_id=public_id).select_related("user").first()
    if export is None:
        raise ExportLinkExpiredError("This export no longer exists (archives are deleted after a while).")
    if not (user.is_staff or export.user_id == user.pk):
        raise ExportLinkError("This download link is not for you.")
    if export.status != DataExport.Status.DONE:
        raise ExportLinkError("This export is not ready yet.")
    if export.expires_at is None or export.expires_at <= timezone.now():
        raise ExportLinkExpiredError("This download link has expired. Ask for a new export.")
    return export
