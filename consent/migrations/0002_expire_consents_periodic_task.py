"""Schedule "expire due consents" every 5 minutes (django-celery-beat, editable in the admin).

Expiry is also enforced on every API request (consent.api_auth); this task makes statuses, webhooks and the
dashboard catch up for consents nobody is using. Re-running never duplicates it; reversing removes it.
"""

from django.db import migrations

TASK_NAME = "expire due consents"
TASK = "consent.tasks.consents_expire_due_task"


def create_periodic_task(apps, schema_editor):
    from django.utils import timezone

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_5_minutes, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": TASK,
            "interval": every_5_minutes,
            "enabled": True,
            "description": "Expire authorised consents past expires_at and authorisation requests nobody answered.",
            "expire_seconds": 290,
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_periodic_task(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_periodic_task, delete_periodic_task)]
