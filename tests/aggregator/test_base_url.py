"""Commands in a second terminal reach the server `make run` started, whatever its PORT, or say how to."""

from __future__ import annotations

import os
import socket
import time
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from aggregator.models import SyncRun
from tests.aggregator.sync_fakes import make_connection
from tests.config.test_settings import print_settings


def _settings_urls(tmp_path: Path, **env: str) -> list[str]:
    with mock.patch.dict(os.environ):
        for name in ("PORT", "PUBLIC_BASE_URL", "SANDBOX_BASE_URL"):
            os.environ.pop(name, None)
        result = print_settings(env, "settings.PUBLIC_BASE_URL, settings.SANDBOX_BASE_URL", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_commands_use_the_url_make_run_recorded_in_the_data_dir(tmp_path):
    (tmp_path / "public_base_url").write_text("http://127.0.0.1:9000\n")
    assert _settings_urls(tmp_path) == ["http://127.0.0.1:9000", "http://127.0.0.1:9000/sandbox"]


def test_the_environment_wins_over_the_recorded_url(tmp_path):
    (tmp_path / "public_base_url").write_text("http://127.0.0.1:9000\n")
    assert _settings_urls(tmp_path, PUBLIC_BASE_URL="http://127.0.0.1:7000")[0] == "http://127.0.0.1:7000"
    assert _settings_urls(tmp_path, PORT="7100")[0] == "http://127.0.0.1:7100"


def test_without_a_recorded_url_the_default_port_is_8000(tmp_path):
    assert _settings_urls(tmp_path)[0] == "http://127.0.0.1:8000"


def test_the_makefile_records_the_public_url_of_make_run():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    recording = next(line for line in run.splitlines() if "public_base_url" in line)
    assert run.index(recording) < run.index("manage.py migrate")
    assert '"$${DATA_DIR:-var}/public_base_url"' in recording and "http://127.0.0.1:$(PORT)" in recording


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_sync_of_a_sandbox_connection_fails_at_once_naming_the_url_and_how_to_set_it(settings):
    url = f"http://127.0.0.1:{_closed_port()}/sandbox"
    settings.SANDBOX_BASE_URL = url
    connection = make_connection()
    connection.institution.config = {"sandbox_bank": "albion"}
    connection.institution.save(update_fields=["config"])

    started = time.monotonic()
    with pytest.raises(CommandError) as excinfo:
        call_command("sync", "--connection", str(connection.public_id), stdout=StringIO(), stderr=StringIO())

    message = str(excinfo.value)
    assert url in message and "PUBLIC_BASE_URL" in message and "SANDBOX_BASE_URL" in message
    assert time.monotonic() - started < 5
    assert not SyncRun.objects.exists()
