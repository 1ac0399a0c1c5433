"""Shared fixtures: the bundled knowledge, a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set), an engine."""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import hypothesis
import pytest
from sqlalchemy import text

from bot.config import TOKYO, Settings
from bot.engine import Engine
from bot.messages import Incoming, TurnResult
from knowledge.model import Knowledge
from storage.db import Database
from storage.models import Base

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")

# Property-based tests: no per-example deadline (the time of a turn on a shared CI machine
# varies); each test sets its own example count.
hypothesis.settings.register_profile("ci", deadline=None, print_blob=True,
                                     suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BACKENDS = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])
QUESTIONS = Path(__file__).parent / "questions"


@pytest.fixture(scope="session")
def kb() -> Knowledge:
    """Return the bundled knowledge, loaded once."""
    return Knowledge.load()


@pytest.fixture(scope="session")
def _postgres() -> Iterator[Database | None]:
    if not TEST_DATABASE_URL:
        yield None
        return
    database = Database(TEST_DATABASE_URL)
    with database.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    database.upgrade()
    yield database
    database.dispose()


def _truncate(database: Database) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path, _postgres: Database | None) -> Iterator[Database]:
    """Return an empty, migrated database: a SQLite file, or the test PostgreSQL (emptied)."""
    if request.param == "postgresql":
        assert _postgres is not None
        _truncate(_postgres)
        yield _postgres
        return
    database = Database(f"sqlite:///{tmp_path / 'test.db'}")
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """Return an empty, migrated database for tests of concurrency: other threads and processes reach it by URL.

    Unlike `db`, the PostgreSQL case is always collected and skipped with its reason when
    TEST_DATABASE_URL is unset: row locks and SKIP LOCKED are only really tested there.
    """
    if request.param == "postgresql":
        if not TEST_DATABASE_URL:
            pytest.skip("TEST_DATABASE_URL is unset: row locks and SKIP LOCKED need a real PostgreSQL")
        postgres: Database = request.getfixturevalue("_postgres")
        _truncate(postgres)
        yield postgres
        return
    database = Database(f"sqlite:///{tmp_path / 'shared.db'}")
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def settings(db: Database) -> Settings:
    """Return settings pointing at the test database, with no platform credentials."""
    return Settings(database_url=db.url)


@pytest.fixture
def engine(db: Database, settings: Settings, kb: Knowledge) -> Engine:
    """Return an engine on the test database and the bundled knowledge."""
    return Engine(db, settings, kb)


def at(iso: str) -> datetime:
    """Return an aware datetime; a naive ISO string is Asia/Tokyo."""
    value = datetime.fromisoformat(iso)
    return value if value.tzinfo else value.replace(tzinfo=TOKYO)


class Clock:
    """A clock the test moves by hand (give it where code takes a `clock` callable)."""

    def __init__(self, start: datetime | str):
        self.now = at(start) if isinstance(start, str) else start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock on (keyword arguments of timedelta)."""
        self.now += timedelta(**delta)


class Chat:
    """Talk to the engine as one user through the console channel."""

    def __init__(self, engine: Engine, user: str = "u1", now: str = "2026-11-27T10:00:00"):
        self.engine, self.user, self.now = engine, user, at(now)

    def say(self, text: str, postback: str | None = None, now: str | None = None) -> TurnResult:
        """Send a message (optionally a tapped button's postback) and return the turn's result."""
        when = at(now) if now else self.now
        return self.engine.handle(Incoming("console", self.user, text, when, postback=postback))

    def tap(self, result: TurnResult, label: str, now: str | None = None) -> TurnResult:
        """Tap the choice with this label from a previous result."""
        choice = next(c for c in result.choices if c.label == label)
        return self.say(choice.label, postback=choice.data, now=now)


@pytest.fixture
def chat(engine: Engine) -> Chat:
    """Return a chat with the engine as user "u1"."""
    return Chat(engine)


def read_question_set(name: str) -> list[dict[str, Any]]:
    """Read a question set (JSON lines) from tests/questions/."""
    with open(QUESTIONS / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
