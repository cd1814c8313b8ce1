"""Schedule the retention task (``aggregator.privacy.tasks.retention_enforce_task``): a django-celery-beat
PeriodicTask every hour, deleting data past its retention period in small batches (docs/privacy.md).

Re-running the migration never duplicates it; reversing removes it.
"""

from django.db import migrations

from aggregator.periodic_tasks import interval_task_operation

TASK_NAME = "enforce data retention"
TASK = "aggregator.privacy.tasks.retention_enforce_task"


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        interval_task_operation(
            name=TASK_NAME,
            task=TASK,
            every=1,
            period="hours",
            description=("Delete data past its retention period (AGGREGATOR RETENTION_*), in small batches."),
            expire_seconds=3500,
        )
    ]
