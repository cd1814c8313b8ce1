"""Schedule the review of recurring streams (``insights.review_streams``): a django-celery-beat PeriodicTask every
hour, so a stream whose payment the compliance clock has passed is tombstoned even when no sync brings anything.

Re-running the migration never duplicates it; reversing removes it.
"""

from django.db import migrations

from aggregator.periodic_tasks import interval_task_operation

TASK_NAME = "review recurring streams"
TASK = "insights.review_streams"


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0001_insights_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        interval_task_operation(
            name=TASK_NAME,
            task=TASK,
            every=1,
            period="hours",
            description=("Tombstone recurring streams whose expected payment the compliance clock has passed."),
            expire_seconds=3500,
        )
    ]
