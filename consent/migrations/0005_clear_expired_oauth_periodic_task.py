"""Schedule "clear expired OAuth codes and tokens" every hour (django-celery-beat, editable in the admin).

Unexchanged authorization codes and expired tokens would otherwise stay in the database for ever (issue 17 #11).
Re-running never duplicates it; reversing removes it.
"""

from django.db import migrations

TASK_NAME = "clear expired OAuth codes and tokens"
TASK = "consent.tasks.oauth_clear_expired_task"


def create_periodic_task(apps, schema_editor):
    from django.utils import timezone

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
            "description": "Delete expired authorization codes and expired access/refresh tokens (DOT cleartokens).",
            "expire_seconds": 3500,
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_periodic_task(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0004_grant_code_checksum"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_periodic_task, delete_periodic_task)]
