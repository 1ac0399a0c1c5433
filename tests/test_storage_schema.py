"""The schema: migrations in step with the models, `sme-bot db upgrade`, SQLite set-up, database URLs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from bot.config import Settings
from storage.db import Database, normalise_url
from storage.models import Base

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
ROOT = Path(__file__).resolve().parent.parent
needs_postgres = pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is unset: no PostgreSQL to test against")


def sme_bot(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the `sme-bot` command in a fresh interpreter, as an operator would."""
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=ROOT, timeout=120)


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_the_schema_revision_the_bot_expects_is_the_newest_migration() -> None:
    from alembic.script import ScriptDirectory

    from storage.db import SCHEMA_REVISION, alembic_config

    assert ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() == SCHEMA_REVISION


def test_migrations_create_every_table_of_the_models(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"} == tables
    assert db.is_current()


def test_db_upgrade_command_creates_the_schema_on_a_new_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "deploy" / "bot.db"
    result = sme_bot("db", "upgrade", env={"DATABASE_URL": f"sqlite:///{path}"})
    assert result.returncode == 0, result.stderr
    assert "最新" in result.stdout
    database = Database(f"sqlite:///{path}")
    assert database.is_current()
    again = sme_bot("db", "upgrade", env={"DATABASE_URL": f"sqlite:///{path}"})
    assert again.returncode == 0, again.stderr
    database.dispose()


@needs_postgres
def test_db_upgrade_command_brings_postgresql_to_the_newest_schema() -> None:
    assert TEST_DATABASE_URL
    result = sme_bot("db", "upgrade", env={"DATABASE_URL": TEST_DATABASE_URL})
    assert result.returncode == 0, result.stderr
    database = Database(TEST_DATABASE_URL)
    assert database.is_current()
    database.dispose()


def test_first_chat_on_a_fresh_sqlite_file_creates_the_schema_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "never-created" / "sme-bot.db"
    line = json.dumps({"user": "u1", "text": "こんにちは", "now": "2026-11-27T10:00:00"}, ensure_ascii=False)
    result = sme_bot("chat", "--jsonl", env={"DATABASE_URL": f"sqlite:///{path}"}, stdin=line + "\n")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[0])
    assert out["text"] and "error" not in out
    assert Database(f"sqlite:///{path}").is_current()


def test_prepare_upgrades_an_empty_sqlite_file_and_then_leaves_it_alone(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert not database.is_current()
    database.prepare()
    assert database.is_current()
    database.prepare()
    assert database.is_current()
    database.dispose()


@pytest.fixture
def empty_postgres_schema() -> Iterator[str]:
    """Return a URL to the test PostgreSQL whose search path is a new, empty schema."""
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL is unset: no PostgreSQL to test against")
    schema = f"empty_{uuid.uuid4().hex[:8]}"
    admin = Database(TEST_DATABASE_URL)
    with admin.engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{normalise_url(TEST_DATABASE_URL)}?options=-csearch_path%3D{schema}"
    finally:
        with admin.engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_prepare_refuses_a_postgresql_without_the_schema_and_says_what_to_run(empty_postgres_schema: str) -> None:
    database = Database(empty_postgres_schema)
    with pytest.raises(RuntimeError, match="sme-bot db upgrade"):
        database.prepare()
    database.upgrade()
    database.prepare()
    assert database.is_current()
    database.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'pragmas.db'}")
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL: no fsync per commit in WAL
    database.dispose()


@pytest.mark.parametrize("given, expected", [
    ("postgres://u:p@db.example.com:5432/d1", "postgresql+psycopg://u:p@db.example.com:5432/d1"),
    ("postgresql://u:p@db.example.com/d1", "postgresql+psycopg://u:p@db.example.com/d1"),
    ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
    ("sqlite:////var/data/bot.db", "sqlite:////var/data/bot.db"),
])
def test_database_urls_are_rewritten_to_the_psycopg3_driver(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


def test_heroku_database_url_from_the_environment_selects_psycopg3() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgres://u:p@ec2.example.com:5432/d1"})
    database = Database(settings.database_url)
    assert database.engine.dialect.name == "postgresql"
    assert database.engine.dialect.driver == "psycopg"
    assert not database.is_sqlite
    database.dispose()


@needs_postgres
def test_heroku_form_connects_to_a_real_postgresql() -> None:
    assert TEST_DATABASE_URL
    heroku = "postgres://" + TEST_DATABASE_URL.split("://", 1)[1]
    database = Database(heroku)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    database.dispose()
