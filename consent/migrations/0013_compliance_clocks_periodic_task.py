"""Schedule "compliance clocks" every hour (django-celery-beat, editable in the admin): EU connections past their
180-day SCA move to reauth_required, and the warnings 14 and 3 days ahead of each reconfirmation and
re-authentication go out (each once: a second run sends nothing twice). Re-running never duplicates the task;
reversing removes it."""

from django.db import migrations

from aggregator.periodic_tasks import interval_task_operation

TASK_NAME = "compliance clocks"
TASK = "consent.tasks.compliance_clocks_task"


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0012_compliance_clocks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        interval_task_operation(
            name=TASK_NAME,
            task=TASK,
            every=1,
            period="hours",
            description=(
                "Compliance clocks: EU re-authentication stop on day 180; reconfirmation and "
                "re-authentication warnings (webhooks, emails) at T-14 and T-3 days, each once."
            ),
            expire_seconds=3500,
        )
    ]
