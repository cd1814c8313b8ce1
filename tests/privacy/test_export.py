"""Export (GDPR Art. 15/20): a zip with one JSON file per kind of data, transactions.csv and a manifest; built by
a task with progress; downloadable through a signed link for its user or staff until it expires."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from aggregator.privacy.export import SCHEMA_VERSION, data_export_build, data_export_path, data_export_request
from aggregator.privacy.models import DataExport
from aggregator.privacy.tasks import data_export_task

from .people import person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _export_dir(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AGGREGATOR = {**settings.AGGREGATOR, "PRIVACY_EXPORT_DIR": str(tmp_path / "exports")}


def _archive(export: DataExport) -> zipfile.ZipFile:
    return zipfile.ZipFile(data_export_path(export))


def _json(zf: zipfile.ZipFile, name: str):  # type: ignore[no-untyped-def]
    return json.loads(zf.read(name))


def _built(p) -> DataExport:  # type: ignore[no-untyped-def]
    export = DataExport.objects.create(user=p.user, requested_by="user")
    return data_export_build(export=export)


def test_the_archive_has_every_file_and_a_manifest_with_counts_and_the_schema_version():
    export = _built(person("Files"))

    with _archive(export) as zf:
        manifest = _json(zf, "manifest.json")
        names = set(zf.namelist())
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert names == {*manifest["files"], "manifest.json"}
    assert manifest["files"]["transactions.json"] == 6 and manifest["files"]["transactions.csv"] == 6
    assert manifest["files"]["accounts.json"] == 2 and manifest["files"]["access_log.json"] == 2


def test_the_archive_holds_the_persons_transactions_and_nobody_elses():
    wilhelmina, other = person("Mine"), person("Theirs")

    with _archive(_built(wilhelmina)) as zf:
        descriptions = {t["description"] for t in _json(zf, "transactions.json")}
        text = b"".join(zf.read(n) for n in zf.namelist()).decode()
    assert descriptions == set(wilhelmina.descriptions)
    assert not any(needle in text for needle in other.needles)


def test_transactions_csv_has_a_header_and_one_row_per_transaction_with_decimal_amounts():
    with _archive(_built(person("Csv"))) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("transactions.csv").decode())))
    assert len(rows) == 6 and rows[0]["amount"] == "-12.34" and rows[0]["description"].startswith("TRANSFER Csv")


def test_consents_come_with_their_events_and_the_access_log_names_the_app_and_consent():
    wilhelmina = person("Trail")

    with _archive(_built(wilhelmina)) as zf:
        consents = _json(zf, "consents.json")
        access = _json(zf, "access_log.json")
    assert [e["to_status"] for e in consents[0]["events"]] == ["authorised"]
    assert {a["consent"] for a in access} == {str(wilhelmina.consent.pk)}
    assert {a["app"] for a in access} == {wilhelmina.consent.application.name}


def test_connections_say_whether_credentials_exist_but_never_contain_them():
    wilhelmina = person("Secret")
    wilhelmina.accounts[0].connection.__class__.objects.update(encrypted_credentials="gAAAAA-secret-token")

    with _archive(_built(wilhelmina)) as zf:
        connections = _json(zf, "connections.json")
        text = b"".join(zf.read(n) for n in zf.namelist()).decode()
    assert connections[0]["has_credentials"] is True
    assert "gAAAAA-secret-token" not in text and "encrypted" not in text


def test_payments_insights_and_ledger_sections_hold_the_persons_rows():
    with _archive(_built(person("Rest"))) as zf:
        payments = _json(zf, "payments.json")
        insights = _json(zf, "insights.json")
        ledger = _json(zf, "ledger.json")
    assert payments[0]["payment"]["status"] == "settled" and payments[0]["events"][0]["kind"] == "settled"
    assert {i["kind"] for i in insights} == {"label", "correction"}
    assert ledger[0]["kind"] == "salt"


def test_a_built_export_is_done_at_100_percent_with_a_link_expiry():
    export = _built(person("Done"))

    export.refresh_from_db()
    assert (export.status, export.percent) == ("done", 100)
    assert export.expires_at - export.finished_at == dt.timedelta(days=1)


def test_a_failing_export_is_marked_failed_and_leaves_no_partial_file(monkeypatch):
    import aggregator.privacy.export as export_module

    def broken(user):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")
        yield

    section = export_module.SECTIONS[3]
    monkeypatch.setattr(export_module, "SECTIONS", (*export_module.SECTIONS[:3], type(section)(section.file, broken)))
    export = _built(person("Broken"))

    export.refresh_from_db()
    assert export.status == "failed" and export.error == "RuntimeError" and export.file_name == ""
    assert list(data_export_path.__globals__["export_dir"]().iterdir()) == []


def test_requesting_an_export_queues_the_task_after_commit(django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("celery.current_app.send_task", lambda name, **kw: sent.append((name, kw["args"])))
    wilhelmina = person("Queued")

    with django_capture_on_commit_callbacks(execute=True):
        export = data_export_request(user=wilhelmina.user, requested_by="user")

    assert export.status == "queued" and sent == [("aggregator.privacy.tasks.data_export_task", [export.pk])]


def test_the_task_builds_the_export_it_is_given():
    export = DataExport.objects.create(user=person("Task").user, requested_by="staff")

    assert data_export_task(export.pk) == "done"


def test_user_export_command_finds_the_user_by_email_and_writes_the_archive(tmp_path):
    wilhelmina = person("Command")
    out = io.StringIO()

    call_command("user_export", "W.COMMAND@mail.example", "--output", str(tmp_path / "a.zip"), stdout=out)

    assert zipfile.ZipFile(tmp_path / "a.zip").read("profile.json")
    assert "transactions.json: 6" in out.getvalue() and "/me/privacy/exports/" in out.getvalue()
    assert DataExport.objects.get(user=wilhelmina.user).status == "done"


def test_user_export_command_says_clearly_when_no_user_matches():
    with pytest.raises(CommandError, match="No user with the username or email 'nobody'"):
        call_command("user_export", "nobody")


def test_a_second_delivery_of_the_task_builds_nothing_more():
    export = _built(person("Twice"))
    finished = DataExport.objects.get(pk=export.pk).finished_at

    assert data_export_task(export.pk) == "done"
    assert DataExport.objects.get(pk=export.pk).finished_at == finished


def test_an_export_running_elsewhere_is_left_to_its_worker():
    export = DataExport.objects.create(user=person("Busy").user, requested_by="user", status="running")
    DataExport.objects.filter(pk=export.pk).update(started_at=timezone.now())

    assert data_export_task(export.pk) == "running"


def test_an_export_whose_worker_died_is_built_again_by_a_redelivery():
    export = DataExport.objects.create(user=person("Dead").user, requested_by="user", status="running")
    DataExport.objects.filter(pk=export.pk).update(started_at=timezone.now() - dt.timedelta(hours=1))

    assert data_export_task(export.pk) == "done"
