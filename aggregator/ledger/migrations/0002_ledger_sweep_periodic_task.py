"""Schedule the ledger sweep (``aggregator.ledger.tasks.ledger_sweep_task``): a django-celery-beat PeriodicTask
every minute — appends outbox rows whose sequencer task was lost and signs a checkpoint when one is due.

Re-running the migration never duplicates it; reversing removes it.
"""

from django.db import migrations
from django.utils import timezone

TASK_NAME = "ledger sweep"
TASK = "aggregator.ledger.tasks.ledger_sweep_task"


def create_periodic_task(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": TASK,
            "interval": every_minute,
            "enabled": True,
            "description": "Append ledger outbox rows left by a lost task or a dead worker; sign due checkpoints.",
            "expire_seconds": 55,
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_periodic_task(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0001_ledger_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_periodic_task, delete_periodic_task)]
