"""Schedule the retention task (``aggregator.privacy.tasks.retention_enforce_task``): a django-celery-beat
PeriodicTask every hour, deleting data past its retention period in small batches (docs/privacy.md).

Re-running the migration never duplicates it; reversing removes it.
"""

from django.db import migrations
from django.utils import timezone

TASK_NAME = "enforce data retention"
TASK = "aggregator.privacy.tasks.retention_enforce_task"


def create_periodic_task(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": TASK,
            "interval": every_hour,
            "enabled": True,
            "description": "Delete data past its retention period (AGGREGATOR RETENTION_*), in small batches.",
            "expire_seconds": 3500,
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_periodic_task(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_periodic_task, delete_periodic_task)]
