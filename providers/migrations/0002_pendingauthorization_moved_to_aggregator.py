# PendingAuthorization now belongs to the aggregator app (aggregator/connections/); state only, the table stays.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("providers", "0001_initial"),
        ("aggregator", "0004_pendingauthorization_moved_here"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="PendingAuthorization")],
            database_operations=[],
        ),
    ]
