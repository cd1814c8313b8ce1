"""Schedule the sync dispatcher: a django-celery-beat PeriodicTask "dispatch due syncs" every minute.

It lives in the database (DatabaseScheduler), so operators can pause it or change its interval in the admin.
Re-running the migration never duplicates it; reversing removes it.
"""

from django.db import migrations

TASK_NAME = "dispatch due syncs"
TASK = "aggregator.tasks.connections_dispatch_task"


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
            "description": "Queue a sync for every bank connection whose next_sync_at has passed (with jitter).",
            "expire_seconds": 55,  # a dispatch older than its minute is dropped; the next one does its work
        },
    )
    # Tell running beat schedulers that the schedule changed (what PeriodicTask.save() does via signals).
    from django.utils import timezone

    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_periodic_task(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("aggregator", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_periodic_task, delete_periodic_task)]
