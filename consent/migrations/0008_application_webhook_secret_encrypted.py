"""Webhook secrets encrypted at rest (issue 17 #13): each existing clear-text ``webhook_secret`` is encrypted into
``webhook_secret_encrypted`` with the credential keys (MultiFernet, providers/credentials.py), then the clear-text
column is dropped. Reversible: the reverse decrypts back into a clear-text column.
"""

from django.db import migrations, models

from providers.credentials import decrypt_text, encrypt_text


def encrypt_secrets(apps, schema_editor):
    Application = apps.get_model("consent", "Application")
    for pk, secret in Application.objects.exclude(webhook_secret="").values_list("pk", "webhook_secret"):
        Application.objects.filter(pk=pk).update(webhook_secret_encrypted=encrypt_text(secret))


def decrypt_secrets(apps, schema_editor):
    Application = apps.get_model("consent", "Application")
    for pk, token in Application.objects.exclude(webhook_secret_encrypted="").values_list(
        "pk", "webhook_secret_encrypted"
    ):
        Application.objects.filter(pk=pk).update(webhook_secret=decrypt_text(token))


class Migration(migrations.Migration):
    dependencies = [("consent", "0007_fapi2_profile_par_dpop")]

    operations = [
        migrations.AddField(
            model_name="application",
            name="webhook_secret_encrypted",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
        migrations.RemoveField(model_name="application", name="webhook_secret"),
    ]
