"""One way for a migration to schedule a periodic task in django-celery-beat's database schedule (editable in the
admin), so each app's schedule migration is one declaration rather than a copy of the same RunPython pair.

Re-running the migration never duplicates the task (it is found by name); reversing removes it. The operation uses
the historical models (``apps.get_model``) only, as migrations must.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.utils import timezone

__all__ = ["interval_task_operation"]


def interval_task_operation(
    *, name: str, task: str, every: int, period: str, description: str, expire_seconds: int
) -> migrations.RunPython:
    """A ``RunPython`` that creates the PeriodicTask ``name`` running ``task`` every ``every`` ``period``
    (``"minutes"``, ``"hours"``…) and whose runs expire after ``expire_seconds``; its reverse deletes it."""

    def create(apps: Any, schema_editor: Any) -> None:
        IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={
                "task": task,
                "interval": interval,
                "enabled": True,
                "description": description,
                "expire_seconds": expire_seconds,
            },
        )
        # Tell running beats the schedule changed.
        PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})

    def delete(apps: Any, schema_editor: Any) -> None:
        apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()

    return migrations.RunPython(create, delete)
