"""Connection.last_sca_at: the last strong customer authentication at the bank (EU 180-day clock).

Existing connections get the migration's time: when they last authenticated is not recorded, and starting their
clock now never stops a connection on the spot (a bank that wants SCA earlier refuses, and the sync moves the
connection to reauth_required as before). See docs/compliance.md.
"""

from django.db import migrations, models


def start_the_clock(apps, schema_editor):
    from django.utils import timezone

    Connection = apps.get_model("aggregator", "Connection")
    Connection.objects.filter(last_sca_at__isnull=True).exclude(status="disconnected").update(
        last_sca_at=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("aggregator", "0009_transaction_merchant_category_code"),
    ]

    operations = [
        migrations.AddField(
            model_name="connection",
            name="last_sca_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(start_the_clock, migrations.RunPython.noop),
    ]
