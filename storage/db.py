"""The database: engine set-up for SQLite and PostgreSQL, transactions and migrations."""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterator, cast

import orjson
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Executable

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest migration in storage/migrations/versions (tests/test_storage_schema.py checks it): every
# start compares the database with it, and loading Alembic to find it would cost a start ~0.4 s.
SCHEMA_REVISION = "0001"


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
        self._prepared: dict[tuple[int, tuple[str, ...]], _Prepared] = {}

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Run a unit of work: commit on success, roll back on any exception."""
        with self._writer_turn(), self._sessions() as session:
            with session.begin():
                yield session

    def _writer_turn(self) -> ContextManager[None]:
        return self._writers.turn() if self._writers is not None else nullcontext()

    def prepared(self, statement: Executable, keys: tuple[str, ...]) -> "_Prepared":
        """Return the statement compiled for this database and these parameter names (once; then from a cache)."""
        prepared = self._prepared.get((id(statement), keys))
        if prepared is None or prepared.statement is not statement:  # a statement is keyed by identity: check it
            prepared = self._prepared[(id(statement), keys)] = _Prepared.compile(statement, self.engine.dialect, keys)
        return prepared

    @contextmanager
    def driver_connection(self) -> Iterator["DriverConnection"]:
        """Hold one pooled connection, used through the driver itself (see DriverConnection), for one unit of work."""
        pooled = self.engine.raw_connection()
        connection = DriverConnection(self, pooled)
        try:
            yield connection
        finally:
            connection.release()

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


@dataclass(frozen=True)
class _Prepared:
    """A Core statement compiled once for one dialect and one set of parameter names, with its values' conversions."""

    statement: Executable
    sql: str
    names: tuple[str, ...]  # the parameters in the order the SQL takes them (named paramstyles: any order)
    positional: bool
    defaults: dict[str, Any]  # values the statement carries itself (literals, LIMIT)
    # Per name in `names`: what the column's type makes of a value (JSON to text, UTC…), or None.
    converters: tuple[Callable[[Any], Any] | None, ...]
    results: tuple[Callable[[Any], Any] | None, ...]  # by result column: back to Python values

    @classmethod
    def compile(cls, statement: Executable, dialect: Dialect, keys: tuple[str, ...]) -> "_Prepared":
        """Compile as SQLAlchemy's Connection.execute would (column_keys: the parameters given)."""
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
        if "POSTCOMPILE" in str(compiled):  # rendered per execution by SQLAlchemy (an IN list): not here
            raise ValueError("a statement with an expanding IN parameter cannot run on the driver's connection; "
                             "use equalities joined by or_()")
        defaults = {name: value for name, value in compiled.params.items() if name not in keys}
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.params)  # type: ignore[arg-type]
        converters = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
        results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                        for column in getattr(statement, "exported_columns", ()))
        return cls(statement, str(compiled), names, bool(compiled.positional), defaults, converters, results)

    def arguments(self, params: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """Return the driver's parameters for these values."""
        values = {**self.defaults, **params} if self.defaults else params
        converted = [values[name] if convert is None else convert(values[name])
                     for name, convert in zip(self.names, self.converters)]
        return tuple(converted) if self.positional else dict(zip(self.names, converted))

    def rows(self, raw: list[Any]) -> list[tuple[Any, ...]]:
        """Return the driver's rows as Python values."""
        if not any(self.results):
            return [tuple(row) for row in raw]
        return [tuple(value if convert is None else convert(value) for convert, value in zip(self.results, row))
                for row in raw]


class ConnectionLost(Exception):
    """The database dropped the connection (a restart, a failover): nothing of the unit of work was written."""


class DriverConnection:
    """A pooled connection used through the database driver itself, for the statements of a turn.

    Every message is a turn, and on that path SQLAlchemy's execution layer (Connection, its events
    and result objects) costs several times what the statements themselves do: through it a turn's
    six statements took ~350 µs of CPU on SQLite, on the driver ~60 µs (PostgreSQL: ~650 µs, ~220 µs);
    a whole turn, answering included, went from 0.69 to 0.38 ms (PostgreSQL: 0.96 to 0.64 ms;
    `python3 bench/turn.py`). The SQL is still SQLAlchemy's: each Core statement is compiled once
    per dialect, exactly as Connection.execute would compile it, and values pass through the
    columns' own types (JSON, times in UTC), so what a turn writes reads back the same through the
    ORM. SQLAlchemy documents this use of the pool's DBAPI connections ("Working with Driver SQL
    and Raw DBAPI Connections").

    The driver runs in autocommit mode: a statement outside transaction() is its own transaction
    (no BEGIN and COMMIT round trips for a read), and transaction() begins one explicitly.
    """

    def __init__(self, database: "Database", pooled: PoolProxiedConnection):
        self._database = database
        self._pooled = pooled
        self.dialect: Dialect = database.engine.dialect
        self._driver: Any = cast(Any, pooled.dbapi_connection)  # the driver's own connection (sqlite3, psycopg)
        if not database.is_sqlite:  # SQLite's connections are in autocommit mode from the start (_create_engine)
            self._driver.autocommit = True

    def run(self, statement: Executable, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Execute a Core statement; return its rows (those of RETURNING included), converted to Python values."""
        prepared = self._database.prepared(statement, tuple(sorted(params)))
        return self._execute(prepared.sql, prepared.arguments(params), prepared.rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one transaction: commit on success, roll back on any exception.

        On SQLite the transaction takes the write lock when it begins (BEGIN IMMEDIATE) and waits for
        it in the writer queue: two turns never read a conversation both mean to write.
        """
        with self._database._writer_turn():
            self._execute("BEGIN IMMEDIATE" if self._database.is_sqlite else "BEGIN")
            try:
                yield
            except BaseException:
                self._rollback()
                raise
            self._execute("COMMIT")

    def _execute(self, sql: str, arguments: tuple[Any, ...] | dict[str, Any] | None = None,
                 rows: Callable[[list[Any]], list[tuple[Any, ...]]] | None = None) -> list[tuple[Any, ...]]:
        cursor = self._driver.cursor()
        try:
            if arguments is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, arguments)
            return rows(cursor.fetchall()) if rows is not None and cursor.description else []
        except self.dialect.loaded_dbapi.Error as exc:
            self._lost(exc, cursor)
            raise
        finally:
            cursor.close()

    def _rollback(self) -> None:
        if not self._pooled.is_valid:  # dropped by the server: nothing to roll back
            return
        try:
            self._execute("ROLLBACK")
        except self.dialect.loaded_dbapi.Error:
            log.debug("rollback failed; the connection is dropped", exc_info=True)
            self._pooled.invalidate()

    def _lost(self, error: Exception, cursor: Any) -> None:
        """Raise ConnectionLost (and renew the pool) if the driver's error means the server dropped the connection."""
        if not self.dialect.is_disconnect(error, self._driver, cursor):  # type: ignore[arg-type]
            return
        # As SQLAlchemy does on a disconnect: this connection is discarded, and since the server
        # dropped it, it most likely dropped every other one in the pool too; they are renewed.
        self._pooled.invalidate(error)
        self._database.engine.dispose()
        raise ConnectionLost(str(error)) from error

    def release(self) -> None:
        """Return the connection to the pool, as SQLAlchemy's sessions expect it (autocommit off)."""
        try:
            if not self._database.is_sqlite and self._pooled.is_valid:
                self._driver.autocommit = False
        except self.dialect.loaded_dbapi.Error:
            self._pooled.invalidate()
        finally:
            self._pooled.close()


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


def json_text(value: Any) -> str:
    """Return a value as JSON text, as the JSON columns store it: compact, UTF-8 as is, any dict key as a string.

    orjson rather than the json module: a turn writes its conversation state as JSON, and orjson
    does that in a fraction of the time. It reads back through orjson.loads the same as before.
    """
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _create_engine(url: str, is_sqlite: bool, **options: Any) -> Engine:
    options.setdefault("json_serializer", json_text)
    options.setdefault("json_deserializer", orjson.loads)
    if not is_sqlite:
        # No ping before each checkout (a round trip on every turn): a connection the server dropped
        # fails its first statement, it and every older pooled connection are then replaced (by
        # SQLAlchemy, or by DriverConnection in a turn), and the turn is answered again
        # (Engine.handle). Connections are renewed after half an hour anyway, before a proxy or
        # firewall drops them idle.
        options.setdefault("pool_recycle", 1800)
        return create_engine(url, **options)
    database = _sqlite_file(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **options)

    # pysqlite's own transaction handling defers BEGIN and would let two writers read the same
    # conversation; a unit of work takes the write lock at BEGIN instead (SQLAlchemy docs,
    # "Serializable isolation"), and a statement outside one is its own (DriverConnection).
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
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
