"""The consent's compliance clocks (docs/compliance.md): ``reconfirm_by`` / ``reconfirmed_at`` (UK, 90 days),
the ``reconfirmed`` event kind, and ``ClockWarning`` (each warning sent once).

Authorised consents over accounts at UK banks get ``reconfirm_by`` = the migration's time + 90 days: their first
reconfirmation is due 90 days after the rule arrives, never at once.
"""

from datetime import timedelta

from django.db import migrations, models


def start_the_clock(apps, schema_editor):
    from django.utils import timezone

    from aggregator.compliance.regimes import regime_for_country

    Consent = apps.get_model("consent", "Consent")
    now = timezone.now()
    consents = Consent.objects.filter(status="authorised", reconfirm_by__isnull=True, payment_consent__isnull=True)
    for consent in consents.prefetch_related("accounts__connection__institution"):
        days = [regime_for_country(a.connection.institution.country).reconfirm_days for a in consent.accounts.all()]
        days = [d for d in days if d is not None]
        if days:
            Consent.objects.filter(pk=consent.pk).update(reconfirm_by=now + timedelta(days=min(days)))


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0011_consent_permission_insights"),
        ("aggregator", "0010_connection_last_sca_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="consent",
            name="reconfirm_by",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="consent",
            name="reconfirmed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="consentevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("status_changed", "Status changed"),
                    ("tokens_revoked", "Tokens revoked"),
                    ("reauthorised", "Authorised again"),
                    ("reconfirmed", "Reconfirmed by the user"),
                ],
                default="status_changed",
                max_length=32,
            ),
        ),
        migrations.CreateModel(
            name="ClockWarning",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("consent.reconfirmation_due", "Consent reconfirmation due"),
                            ("connection.reauth_due", "Connection re-authentication due"),
                        ],
                        max_length=40,
                    ),
                ),
                ("subject_id", models.CharField(help_text="Public id of the consent or connection", max_length=64)),
                ("due_at", models.DateTimeField()),
                ("stage", models.CharField(help_text="How long before the deadline, e.g. T-14", max_length=8)),
                ("sent_at", models.DateTimeField()),
                ("emailed", models.BooleanField(default=False)),
            ],
            options={
                "ordering": ["-sent_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(fields=("kind", "subject_id", "due_at", "stage"), name="clockwarning_once")
                ],
            },
        ),
        migrations.RunPython(start_the_clock, migrations.RunPython.noop),
    ]
