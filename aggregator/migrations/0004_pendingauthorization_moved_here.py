# The connect flow moved from providers/ to aggregator/connections/: PendingAuthorization changes app in the
# migration state only; its table (providers_pendingauthorization) and rows stay as they are.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("aggregator", "0003_transaction_account_no_redundant_index"),
        ("providers", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PendingAuthorization",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("state", models.CharField(max_length=128, unique=True)),
                        ("redirect_uri", models.URLField(max_length=500)),
                        ("next_url", models.CharField(blank=True, max_length=500)),
                        ("payload", models.TextField(editable=False, help_text="Encrypted AuthorizationRequest (PKCE verifier, consent)")),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("expires_at", models.DateTimeField()),
                        ("used_at", models.DateTimeField(blank=True, null=True)),
                        ("institution", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="aggregator.institution")),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "providers_pendingauthorization",
                        "ordering": ["-created_at"],
                        "indexes": [models.Index(fields=["expires_at"], name="pendingauth_expires_idx")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
