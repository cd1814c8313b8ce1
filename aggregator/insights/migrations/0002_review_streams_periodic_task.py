"""Schedule the review of recurring streams (``insights.review_streams``): a django-celery-beat PeriodicTask every
hour, so a stream whose payment the compliance clock has passed is tombstoned even when no sync brings anything.

Re-running the migration never duplicates it; reversing removes it.
"""

from django.db import migrations
from django.utils import timezone

TASK_NAME = "review recurring streams"
TASK = "insights.review_streams"


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
            "description": "Tombstone recurring streams whose expected payment the compliance clock has passed.",
            "expire_seconds": 3500,
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_periodic_task(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0001_insights_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_periodic_task, delete_periodic_task)]
