"""The database: engine set-up for SQLite and PostgreSQL, transactions and migrations."""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, ContextManager, Iterator

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest migration in storage/migrations/versions (tests/test_storage_schema.py checks it): every
# start compares the database with it, and loading Alembic to find it would cost a start ~0.4 s.
SCHEMA_REVISION = "0001"
# SQLite execution option of Database.reading(): no BEGIN, each statement runs on its own.
NO_TRANSACTION = "sme_no_transaction"


def normalise_url(url: str) -> str:
    """Return a SQLAlchemy URL, rewriting Heroku's postgres:// to the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://"):]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def alembic_config(url: str) -> "Config":
    """Return an Alembic config for this database, without an alembic.ini on disk."""
    from alembic.config import Config  # Alembic is imported only when a migration is looked at (start-up time)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


class Database:
    """A connection pool and the way to run a unit of work in one transaction."""

    def __init__(self, url: str, **engine_options: Any):
        self.url = normalise_url(url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        self.engine = _create_engine(self.url, self.is_sqlite, **engine_options)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writers = WriterQueue(_sqlite_file(self.url)) if self.is_sqlite else None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Run a unit of work: commit on success, roll back on any exception."""
        with self._writer_turn(), self._sessions() as session:
            with session.begin():
                yield session

    @contextmanager
    def writing(self, connection: Connection) -> Iterator[Connection]:
        """Run a transaction that writes on this connection: commit on success, roll back on any exception."""
        with self._writer_turn(), connection.begin():
            yield connection

    def _writer_turn(self) -> ContextManager[None]:
        return self._writers.turn() if self._writers is not None else nullcontext()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """Hold one pooled connection for work done in several transactions (Core statements, no ORM)."""
        with self.engine.connect() as connection:
            yield connection

    @contextmanager
    def reading(self, connection: Connection) -> Iterator[Connection]:
        """Read on this connection outside a transaction: no write lock, no BEGIN and COMMIT round trips.

        Each statement sees one consistent state of the database; what must be consistent across
        statements belongs in one statement (or in a transaction).
        """
        if self.is_sqlite:
            outside, back = {NO_TRANSACTION: True}, {NO_TRANSACTION: False}
        else:
            outside, back = {"isolation_level": "AUTOCOMMIT"}, {"isolation_level": connection.default_isolation_level}
        connection.execution_options(**outside)
        try:
            with connection.begin():  # only SQLAlchemy's bookkeeping: nothing is sent for it
                yield connection
        finally:
            connection.execution_options(**back)

    def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        from alembic import command

        with self.engine.begin() as connection:
            config = alembic_config(self.url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def is_current(self) -> bool:
        """Tell whether the schema is at the newest migration (SCHEMA_REVISION), without loading Alembic."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return False
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_REVISION

    def prepare(self) -> None:
        """Make the schema usable: SQLite upgrades itself; PostgreSQL must be upgraded by `sme-bot db upgrade`."""
        if self.is_current():
            return
        if self.is_sqlite:
            log.info("creating or upgrading the SQLite schema")
            self.upgrade()
            return
        raise RuntimeError("データベースのスキーマが最新ではありません。`sme-bot db upgrade` を実行してください。")

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


class WriterQueue:
    """SQLite allows one writer at a time: the writers of every process on this machine wait here in turn.

    Without it they wait in SQLite's busy handler, which sleeps and retries (up to 100 ms between
    tries), so under load a short write could wait seconds. A writer here is woken as soon as the
    one before it is done: a thread lock within the process, an exclusive flock(2) across processes
    (on a file beside the database; opened anew in each process, as a lock opened before a fork
    would be shared with the child rather than exclude it).
    """

    def __init__(self, database: Path | None):
        self._threads = threading.Lock()
        self._lock_path = f"{database}-writer.lock" if database is not None else None
        self._lock_file: tuple[int, int] | None = None  # (process id, file descriptor)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait until no other writer holds the database, then hold it until the block ends."""
        with self._threads:
            descriptor = self._descriptor()
            if descriptor is None:
                yield
                return
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)

    def _descriptor(self) -> int | None:
        if self._lock_path is None:
            return None
        if self._lock_file is None or self._lock_file[0] != os.getpid():
            self._lock_file = (os.getpid(), os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600))
        return self._lock_file[1]


def _sqlite_file(url: str) -> Path | None:
    """Return the file of a SQLite database; None for one in memory."""
    database = make_url(url).database
    return Path(database).expanduser() if database and database != ":memory:" else None


def _create_engine(url: str, is_sqlite: bool, **options: Any) -> Engine:
    if not is_sqlite:
        # No ping before each checkout (a round trip on every turn): a connection the server dropped
        # fails its first statement, SQLAlchemy then replaces it and every older pooled connection,
        # and the turn is answered again (Engine.handle). Connections are renewed after half an hour
        # anyway, before a proxy or firewall drops them idle.
        options.setdefault("pool_recycle", 1800)
        return create_engine(url, **options)
    database = _sqlite_file(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **options)

    # pysqlite's own transaction handling defers BEGIN and would let two writers read the same
    # conversation; a unit of work takes the write lock at BEGIN instead (SQLAlchemy docs,
    # "Serializable isolation"). Database.reading() sends no BEGIN at all.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL never corrupts the file and survives an application crash; only a
        # power cut can lose the last commits. FULL would fsync on every turn (sqlite.org/wal.html).
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if not connection.get_execution_options().get(NO_TRANSACTION, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
