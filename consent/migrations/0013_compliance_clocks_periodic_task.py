"""Schedule "compliance clocks" every hour (django-celery-beat, editable in the admin): EU connections past their
180-day SCA move to reauth_required, and the warnings 14 and 3 days ahead of each reconfirmation and
re-authentication go out (each once: a second run sends nothing twice). Re-running never duplicates the task;
reversing removes it."""

from django.db import migrations

TASK_NAME = "compliance clocks"
TASK = "consent.tasks.compliance_clocks_task"


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
            "description": "Compliance clocks: EU re-authentication stop on day 180; reconfirmation and "
            "re-authentication warnings (webhooks, emails) at T-14 and T-3 days, each once.",
            "expire_seconds": 3500,
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_periodic_task(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0012_compliance_clocks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_periodic_task, delete_periodic_task)]
