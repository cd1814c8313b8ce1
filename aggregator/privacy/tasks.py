"""Celery tasks of the privacy package: build one export archive; enforce the retention periods."""

from __future__ import annotations

from celery import shared_task

from .export import data_export_build
from .models import DataExport
from .retention import retention_enforce

__all__ = ["data_export_task", "retention_enforce_task"]


@shared_task(name="aggregator.privacy.tasks.data_export_task", acks_late=True, ignore_result=True)
def data_export_task(export_id: int) -> str:
    export = DataExport.objects.select_related("user").filter(pk=export_id).first()
    if export is None:
        return "gone"
    return data_export_build(export=export).status


@shared_task(name="aggregator.privacy.tasks.retention_enforce_task", acks_late=True, ignore_result=True)
def retention_enforce_task() -> dict[str, int]:
    return retention_enforce()
