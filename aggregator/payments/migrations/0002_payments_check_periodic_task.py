"""Schedule ``payments_check_task`` (expire unused payment consents, re-submit payments the bank never answered,
poll accepted ones): a django-celery-beat PeriodicTask every minute. Re-running never duplicates it; reversing
removes it."""

from django.db import migrations

from aggregator.periodic_tasks import interval_task_operation

TASK_NAME = "check payments"
TASK = "aggregator.payments.tasks.payments_check_task"


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        interval_task_operation(
            name=TASK_NAME,
            task=TASK,
            every=1,
            period="minutes",
            description=("Expire unused payment consents; re-submit unanswered payments; poll accepted ones."),
            expire_seconds=55,
        )
    ]
