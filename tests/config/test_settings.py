"""Settings behaviour is checked in fresh interpreters: settings are read once per process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3Y-" + "x9A_b7C-d5E" * 6


def run_django(env_overrides: dict[str, str], *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DJANGO_ENV", "DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}
    }
    env.update({"DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "aggregator.config.settings"})
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def print_settings(
    env_overrides: dict[str, str], expression: str, *, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``print(<expression>)`` with ``settings`` in scope, in a fresh interpreter."""
    code = f"from django.conf import settings; print({expression})"
    return run_django(env_overrides, "shell", "--no-imports", "-c", code, tmp_path=tmp_path)


def production_env(**extra: str) -> dict[str, str]:
    env = {
        "DJANGO_ENV": "production",
        "ALLOWED_HOSTS": "aggregator.example.com",
        "CREDENTIAL_KEYS": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
        "LEDGER_ORIGIN": "aggregator.example.com/ledger",
        "LEDGER_SIGNING_KEY": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
    }
    env.update(extra)
    return env


def test_production_refuses_to_start_without_a_ledger_signing_key(tmp_path):
    env = production_env(SECRET_KEY=STRONG_KEY)
    del env["LEDGER_SIGNING_KEY"]
    result = run_django(env, "check", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "LEDGER_SIGNING_KEY and LEDGER_ORIGIN must be set in production" in result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_django(production_env(), "check", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


def test_production_refuses_a_weak_secret_key(tmp_path):
    result = run_django(production_env(SECRET_KEY="changeme"), "check", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "too weak" in result.stderr


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = run_django(
        production_env(SECRET_KEY=STRONG_KEY), "check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_local_runs_generate_an_untracked_secret_key_once(tmp_path):
    first = print_settings({"DJANGO_ENV": "local"}, "settings.SECRET_KEY", tmp_path=tmp_path)
    second = print_settings({"DJANGO_ENV": "local"}, "settings.SECRET_KEY", tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert len(key) >= 50
    assert second.stdout.strip() == key
    assert (tmp_path / "secret_key").read_text().strip() == key
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_database_url_selects_postgresql(tmp_path):
    database = "settings.DATABASES['default']"
    result = print_settings(
        {"DJANGO_ENV": "local", "DATABASE_URL": "postgres://u@db.example:5432/agg"},
        f"{database}['ENGINE'], {database}['NAME'], {database}['HOST']",
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "agg", "db.example"]


def test_a_database_pool_replaces_persistent_sessions_on_postgresql(tmp_path):
    database = "settings.DATABASES['default']"
    pooled = {"DJANGO_ENV": "local", "DATABASE_URL": "postgres://u@db.example:5432/agg", "DATABASE_POOL_SIZE": "8"}
    result = print_settings(
        pooled, f"{database}['CONN_MAX_AGE'], {database}['OPTIONS']['pool']['max_size']", tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "8"]

    unpooled = print_settings({**pooled, "DATABASE_POOL_SIZE": "0"}, f"{database}['OPTIONS']", tmp_path=tmp_path)
    assert unpooled.stdout.strip() == "{}"
    embedded = print_settings(
        {"DJANGO_ENV": "local", "DATABASE_POOL_SIZE": "8"}, f"'pool' in {database}['OPTIONS']", tmp_path=tmp_path
    )
    assert embedded.stdout.strip() == "False"  # SQLite has no pool


def test_a_negative_database_pool_size_is_a_clear_error(tmp_path):
    result = run_django({"DJANGO_ENV": "local", "DATABASE_POOL_SIZE": "-1"}, "check", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "DATABASE_POOL_SIZE must be 0 (no pool) or more, not -1" in result.stderr


def test_defaults_need_no_services(tmp_path):
    result = print_settings(
        {"DJANGO_ENV": "local"},
        "settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL",
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://"]
    assert (tmp_path / "broker" / "out").is_dir()


@pytest.mark.parametrize("value", ["staging", "prod"])
def test_an_unknown_environment_name_is_a_clear_error(tmp_path, value):
    result = run_django({"DJANGO_ENV": value}, "check", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "DJANGO_ENV must be local, test or production" in result.stderr
